"""Operator replay (DESIGN "Console"): plan, request, run and cancel, every step audited.

A replay is planned from a scope (one event, a seq range, a thread's undelivered events, or the
undelivered events of a set of threads), shown as a dry run, then requested with a reason. The
request freezes the plan as ReplayItem rows; a Celery job (`delivery.tasks.run_replay`) sends them
through the normal fast path with `trigger="replay"`, so clients see `replay: true` frames, and
records one DeliveryAttempt(trigger=replay) per batch and an outcome per event. Every event
a replay names is copied to AuditedEvent when it is requested, so retention cannot take it.

A replay reopens the undelivered ranges it covers, and the reconciler counts retries only
after the replay's send: replayed events that stay unacknowledged get a fresh retry budget on
live connections, and a client that is away gets them on its next connect (the resume starts
at the acked watermark). Earlier attempts are kept: a replay adds rows, it overwrites none.
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from delivery import audit, connections, selectors
from delivery.connections import GroupSend
from delivery.exceptions import ReplayError
from delivery.models import (
    AuditedEvent,
    Connection,
    ConnectionState,
    Event,
    Outcome,
    ReplayItem,
    ReplayOutcome,
    ReplayRequest,
    ReplayScope,
    ReplayState,
    Thread,
    Trigger,
    UndeliveredRange,
)
from delivery.publisher import publisher

logger = logging.getLogger(__name__)

MAX_EVENTS = 5000
BATCH = 200


@dataclass
class ReplayPlan:
    """What a replay would send: the dry run. `online` holds threads with a live connection."""

    scope: str
    detail: dict[str, str]
    events: list[Event] = field(default_factory=list)
    online: set[uuid.UUID] = field(default_factory=set)
    truncated: bool = False

    @property
    def thread_ids(self) -> list[uuid.UUID]:
        return list(dict.fromkeys(event.thread_id for event in self.events))

    @property
    def online_threads(self) -> int:
        return sum(1 for thread_id in self.thread_ids if thread_id in self.online)


def _plan(scope: str, detail: dict[str, str], events: QuerySet[Event]) -> ReplayPlan:
    rows = list(events.order_by("thread_id", "seq")[: MAX_EVENTS + 1])
    plan = ReplayPlan(scope=scope, detail=detail, events=rows[:MAX_EVENTS])
    plan.truncated = len(rows) > MAX_EVENTS
    _attach_statuses(plan.events)
    plan.online = set(
        Connection.objects.filter(
            thread_id__in=plan.thread_ids, state=ConnectionState.LIVE
        ).values_list("thread_id", flat=True)
    )
    return plan


def _attach_statuses(events: list[Event]) -> None:
    """Each event's derived status as `event.status` (the dry run shows it)."""
    by_thread: dict[uuid.UUID, list[Event]] = {}
    for event in events:
        by_thread.setdefault(event.thread_id, []).append(event)
    for thread in Thread.objects.filter(pk__in=list(by_thread)):
        statuses = selectors.event_statuses(
            thread=thread, seqs=[e.seq for e in by_thread[thread.pk]]
        )
        for event in by_thread[thread.pk]:
            event.status = statuses[event.seq]  # type: ignore[attr-defined]


def plan_event(*, event_id: uuid.UUID | str) -> ReplayPlan:
    events = Event.objects.filter(event_id=parse_id(event_id))
    if not events.exists():
        raise ReplayError(f"no event {event_id}")
    return _plan(ReplayScope.EVENT, {"event": str(event_id)}, events)


def plan_range(*, thread_id: uuid.UUID | str, first: int, last: int) -> ReplayPlan:
    if first < 1 or last < first:
        raise ReplayError(f"seq range {first}..{last} is empty")
    if last - first + 1 > MAX_EVENTS:
        raise ReplayError(f"a range may hold at most {MAX_EVENTS} events")
    events = Event.objects.filter(thread_id=parse_id(thread_id), seq__gte=first, seq__lte=last)
    detail = {"thread": str(thread_id), "first": str(first), "last": str(last)}
    return _plan(ReplayScope.RANGE, detail, events)


def plan_unacked(*, thread: Thread, detail: dict[str, str]) -> ReplayPlan:
    """Every event of the thread above its acked watermark."""
    events = Event.objects.filter(thread=thread, seq__gt=thread.acked_seq)
    return _plan(ReplayScope.THREAD, detail, events)


def plan_undelivered(*, threads: QuerySet[Thread], detail: dict[str, str]) -> ReplayPlan:
    """The events of `threads` (a search's matches) in open undelivered ranges: given up on,
    not reopened by a replay since, and not acknowledged after all."""
    ranges = UndeliveredRange.objects.filter(
        thread__in=threads.values("pk"),
        reopened_at__isnull=True,
        last_seq__gt=F("thread__acked_seq"),
    ).values_list("thread_id", "first_seq", "last_seq", "thread__acked_seq")
    covered = Q(pk__in=[])
    for thread_id, first, last, acked in ranges[:MAX_EVENTS]:
        covered |= Q(thread_id=thread_id, seq__gte=max(first, acked + 1), seq__lte=last)
    return _plan(ReplayScope.FILTER, detail, Event.objects.filter(covered))


def request_replay(
    *, plan: ReplayPlan, actor: User, reason: str, ticket: str = ""
) -> ReplayRequest:
    """Freeze `plan` into an audited ReplayRequest and queue its job after commit."""
    reason = reason.strip()
    if not reason:
        raise ReplayError("a replay needs a reason")
    if not plan.events:
        raise ReplayError("nothing to replay: the plan is empty")
    with transaction.atomic():
        replay = ReplayRequest.objects.create(
            actor=actor,
            actor_name=actor.get_username(),
            reason=reason[:500],
            ticket=ticket.strip()[:100],
            scope=plan.scope,
            scope_detail=plan.detail,
            planned_events=len(plan.events),
            planned_threads=len(plan.thread_ids),
        )
        ReplayItem.objects.bulk_create(
            ReplayItem(
                replay=replay,
                thread_id=e.thread_id,
                event_id=e.event_id,
                seq=e.seq,
                state_before=e.status.state,  # type: ignore[attr-defined]
            )
            for e in plan.events
        )
        audit.preserve(plan.events)
        transaction.on_commit(partial(_enqueue, replay.pk))
    logger.warning(
        "replay %s requested by %s: %s event(s) in %s thread(s), reason %r",
        replay.pk,
        replay.actor_name,
        replay.planned_events,
        replay.planned_threads,
        replay.reason,
    )
    return replay


def _enqueue(replay_id: int) -> None:
    from delivery.tasks import run_replay

    run_replay.delay(replay_id)


def cancel_replay(*, replay_id: int, actor: User) -> ReplayRequest:
    """Ask a queued or running replay to stop; the job stops before its next batch."""
    ReplayRequest.objects.filter(
        pk=replay_id, state__in=(ReplayState.QUEUED, ReplayState.RUNNING)
    ).update(state=ReplayState.CANCELLING, cancelled_by=actor.get_username())
    return ReplayRequest.objects.get(pk=replay_id)


def run_replay(*, replay_id: int) -> ReplayRequest:
    """The job: send each planned item, batch by batch, until done or cancelled. Idempotent."""
    started = ReplayRequest.objects.filter(pk=replay_id, state=ReplayState.QUEUED).update(
        state=ReplayState.RUNNING, started_at=timezone.now()
    )
    replay = ReplayRequest.objects.get(pk=replay_id)
    if not started and replay.state != ReplayState.CANCELLING:
        return replay  # already run, running elsewhere, or finished
    try:
        for batch in _planned_batches(replay):
            if _cancel_requested(replay_id):
                break
            _send_batch(replay, batch)
    except Exception:
        logger.exception("replay %s failed", replay_id)
        _finish(replay_id, ReplayState.FAILED)
        raise
    final = ReplayState.CANCELLED if _cancel_requested(replay_id) else ReplayState.DONE
    return _finish(replay_id, final)


def _planned_batches(replay: ReplayRequest) -> Iterable[list[ReplayItem]]:
    while True:
        items = list(
            replay.items.filter(outcome=ReplayOutcome.PLANNED).order_by("thread_id", "seq")[:BATCH]
        )
        if not items:
            return
        thread_id = items[0].thread_id
        yield [item for item in items if item.thread_id == thread_id]


def _cancel_requested(replay_id: int) -> bool:
    return ReplayRequest.objects.filter(pk=replay_id, state=ReplayState.CANCELLING).exists()


def _send_batch(replay: ReplayRequest, items: list[ReplayItem]) -> None:
    thread_id = items[0].thread_id
    events = _events_of(thread_id, items)
    if not events:
        _settle(replay, items, ReplayOutcome.FAILED, "failed")
        return
    online = Connection.objects.filter(thread_id=thread_id, state=ConnectionState.LIVE).exists()
    sent_at = timezone.now()
    sent = publisher.send(thread_id, events, trigger=Trigger.REPLAY)
    # Nobody listening is not a failure: the events go out on the next connect.
    took = sent not in (Outcome.DROPPED, Outcome.FAILED)
    now = timezone.now()
    with transaction.atomic():
        connections.record_group_sends(
            trigger=Trigger.REPLAY,
            detail=f"replay #{replay.pk} by {replay.actor_name}: {replay.reason}",
            sends=[GroupSend(thread_id, events[0].seq, events[-1].seq, sent)],
            at=sent_at,
        )
        if took:
            _reopen(thread_id, events[0].seq, events[-1].seq, replay, now)
        outcome = (
            ReplayOutcome.FAILED
            if not took
            else ReplayOutcome.SENT_LIVE
            if online
            else ReplayOutcome.ON_NEXT_CONNECT
        )
        _settle(replay, items, outcome, "sent" if took else "failed")


def _settle(replay: ReplayRequest, items: list[ReplayItem], outcome: str, counter: str) -> None:
    ReplayItem.objects.filter(pk__in=[i.pk for i in items]).update(
        outcome=outcome, done_at=timezone.now()
    )
    ReplayRequest.objects.filter(pk=replay.pk).update(**{counter: F(counter) + len(items)})


def _events_of(thread_id: uuid.UUID, items: list[ReplayItem]) -> list[Event]:
    """The items' events from the ledger, or from their audited copies once retention took
    their day."""
    seqs = [item.seq for item in items]
    found = {e.seq: e for e in Event.objects.filter(thread_id=thread_id, seq__in=seqs)}
    missing = [item.event_id for item in items if item.seq not in found]
    for copy in AuditedEvent.objects.filter(event_id__in=missing):
        found[copy.seq] = audit.as_event(copy)
    return [found[seq] for seq in sorted(found)]


def _reopen(
    thread_id: uuid.UUID, first: int, last: int, replay: ReplayRequest, now: object
) -> None:
    """Undelivered ranges the replay covers go back to the normal path, with a fresh budget."""
    UndeliveredRange.objects.filter(
        thread_id=thread_id, reopened_at__isnull=True, first_seq__lte=last, last_seq__gte=first
    ).update(reopened_at=now, reopened_by=f"replay #{replay.pk} by {replay.actor_name}"[:150])


def _finish(replay_id: int, state: str) -> ReplayRequest:
    now = timezone.now()
    if state != ReplayState.DONE:
        ReplayItem.objects.filter(replay_id=replay_id, outcome=ReplayOutcome.PLANNED).update(
            outcome=ReplayOutcome.CANCELLED, done_at=now
        )
    ReplayRequest.objects.filter(pk=replay_id).update(state=state, finished_at=now)
    replay = ReplayRequest.objects.get(pk=replay_id)
    logger.warning(
        "replay %s %s: %s sent, %s failed of %s",
        replay.pk,
        replay.state,
        replay.sent,
        replay.failed,
        replay.planned_events,
    )
    return replay


def parse_id(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ReplayError(f"{value!r} is not an id") from None
