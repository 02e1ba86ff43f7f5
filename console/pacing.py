"""Paced replays: a replay of more than WAVE_EVENTS events goes out in waves, one every
WAVE_PAUSE seconds, so a bulk recovery never floods the channel layer or the clients' sockets
ahead of live traffic, and its progress can be followed (and cancelled) wave by wave.

Each wave is an ordinary audited delivery replay (delivery.repair.replay) whose scope detail
names the paced replay and the wave. The plan is frozen when the operator confirms; a wave
leaves out the events acknowledged since, unless acknowledged events were asked for.
"""

import uuid

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from console.exceptions import ReplayRefused
from console.models import PacedReplay, PacedState
from console.recovery import ScopedPlan, attach_statuses, online, parse_states, state_of
from delivery.models import Event, ReplayRequest, ReplayState
from delivery.repair import replay
from delivery.text import storable, unstorable

WAVE_EVENTS = 200
WAVE_PAUSE = 2.0

Wave = list[tuple[str, list[int]]]


def waves_of(plan: replay.ReplayPlan, size: int = WAVE_EVENTS) -> list[Wave]:
    """The plan's events (in thread and seq order) cut into waves of `size`."""
    waves: list[Wave] = []
    current: dict[str, list[int]] = {}
    count = 0
    for event in plan.events:
        if count == size:
            waves.append(list(current.items()))
            current, count = {}, 0
        current.setdefault(str(event.thread_id), []).append(event.seq)
        count += 1
    if current:
        waves.append(list(current.items()))
    return waves


def request_paced(*, scoped: ScopedPlan, actor: User, reason: str, ticket: str = "") -> PacedReplay:
    """Freeze the plan into waves. The caller queues the first wave (console.tasks) once this
    commits; each wave's task queues the next, WAVE_PAUSE seconds later."""
    reason, ticket = reason.strip(), ticket.strip()
    if not reason:
        raise ReplayRefused("a replay needs a reason")
    if not (storable(reason) and storable(ticket)):
        raise unstorable(ReplayRefused, "the reason or ticket")
    plan = scoped.plan
    return PacedReplay.objects.create(
        actor=actor,
        actor_name=actor.get_username(),
        reason=reason[:500],
        ticket=ticket[:100],
        scope=plan.scope,
        scope_detail=plan.detail,
        planned_events=len(plan.events),
        planned_threads=len(plan.thread_ids),
        pause=WAVE_PAUSE,
        waves=waves_of(plan),
    )


def send_wave(paced_id: int, number: int) -> PacedReplay | None:
    """Request wave `number`'s replay (0-based). None when that wave is not the next one (a
    repeated task): only the task that sends a wave queues the one after it."""
    with transaction.atomic():
        paced = PacedReplay.objects.select_for_update().get(pk=paced_id)
        if paced.finished or paced.next_wave != number or number >= paced.wave_count:
            return None
        if paced.state == PacedState.CANCELLING or paced.actor is None:
            return _finish(paced, PacedState.CANCELLED)
        wave = paced.waves[number]
        plan = _wave_plan(paced, wave)
        if plan.events:
            replay.request_replay(
                plan=plan, actor=paced.actor, reason=paced.reason, ticket=paced.ticket
            )
        paced.skipped += sum(len(seqs) for _, seqs in wave) - len(plan.events)
        paced.next_wave = number + 1
        if paced.next_wave >= paced.wave_count:
            return _finish(paced, PacedState.DONE)
        paced.save(update_fields=["skipped", "next_wave"])
    return paced


def _wave_plan(paced: PacedReplay, wave: Wave) -> replay.ReplayPlan:
    states = parse_states({"states": paced.scope_detail.get("states", "")}, ())
    match = Q(pk__in=[])
    for thread_id, seqs in wave:
        match |= Q(thread_id=uuid.UUID(thread_id), seq__in=seqs)
    events = list(Event.objects.filter(match).order_by("thread_id", "seq"))
    attach_statuses(events)
    kept = [e for e in events if not states or state_of(e) in states]
    number = paced.next_wave + 1
    detail = {**paced.scope_detail, "paced": str(paced.pk), "wave": f"{number}/{paced.wave_count}"}
    plan = replay.ReplayPlan(paced.scope, detail, kept)
    plan.online = online(plan.thread_ids)
    return plan


def _finish(paced: PacedReplay, state: str) -> PacedReplay:
    paced.state = state
    paced.finished_at = timezone.now()
    paced.save(update_fields=["state", "finished_at", "skipped", "next_wave"])
    return paced


def wave_replays(paced: PacedReplay) -> QuerySet[ReplayRequest]:
    """The delivery replays the paced replay's waves requested so far, first wave first."""
    return ReplayRequest.objects.filter(scope_detail__paced=str(paced.pk)).order_by("pk")


def cancel_paced(*, paced_id: int, actor: User) -> PacedReplay:
    """No further wave is sent, and the waves still running stop before their next batch."""
    with transaction.atomic():
        paced = PacedReplay.objects.select_for_update().get(pk=paced_id)
        if paced.state == PacedState.RUNNING:
            paced.state = PacedState.CANCELLING
            paced.cancelled_by = actor.get_username()
            paced.save(update_fields=["state", "cancelled_by"])
    running = (ReplayState.QUEUED, ReplayState.RUNNING)
    for job in wave_replays(paced).filter(state__in=running):
        replay.cancel_replay(replay_id=job.pk, actor=actor)
    return paced
