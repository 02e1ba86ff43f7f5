"""Operator replay (DESIGN "Console"): plan, request, run and cancel, every step audited.

A replay is planned from a scope (one event, a seq range, a thread's undelivered events, or the
undelivered events of a set of threads), shown as a dry run, then requested with a reason. The
request freezes the plan as ReplayItem rows; a Celery job (`delivery.tasks.run_replay`) sends them
through the normal fast path with `trigger="replay"`, so clients see `replay: true` frames, and
records one DeliveryAttempt(trigger=replay) per batch and an outcome per event.

Replayed events that are not yet acknowledged become `sent` with a fresh retry budget: the
reconciler keeps retrying them on live connections, and a client that is away gets them on its
next connect (the resume starts at the acked watermark).
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case, F, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from delivery import connections, fanout
from delivery.exceptions import ReplayError
from delivery.models import (
    Connection,
    ConnectionState,
    Event,
    EventState,
    ReplayItem,
    ReplayOutcome,
    ReplayRequest,
    ReplayScope,
    ReplayState,
    Thread,
)
from delivery.publisher import publisher

logger = logging.getLogger(__name__)

MAX_EVENTS = 5000
BATCH = 200
NOT_ACKED = (EventState.PENDING, EventState.SENT, EventState.UNDELIVERED)


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
    plan.online = set(
        Connection.objects.filter(
            thread_id__in=plan.thread_ids, state=ConnectionState.LIVE
        ).values_list("thread_id", flat=True)
    )
    return plan


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


def plan_undelivered(
    *, threads: QuerySet[Thread], scope: str = ReplayScope.THREAD, detail: dict[str, str]
) -> ReplayPlan:
    """Every unacknowledged event of `threads` (one thread, or a search's matches)."""
    events = Event.objects.filter(thread__in=threads.values("pk"), state__in=NOT_ACKED)
    return _plan(scope, detail, events)


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
                replay=replay, thread_id=e.thread_id, event=e, seq=e.seq, state_before=e.state
            )
            for e in plan.events
        )
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
            replay.items.filter(outcome=ReplayOutcome.PLANNED)
            .select_related("event")
            .order_by("thread_id", "seq")[:BATCH]
        )
        if not items:
            return
        thread_id = items[0].thread_id
        yield [item for item in items if item.thread_id == thread_id]


def _cancel_requested(replay_id: int) -> bool:
    return ReplayRequest.objects.filter(pk=replay_id, state=ReplayState.CANCELLING).exists()


def _send_batch(replay: ReplayRequest, items: list[ReplayItem]) -> None:
    thread_id = items[0].thread_id
    events = [item.event for item in items]
    online = Connection.objects.filter(thread_id=thread_id, state=ConnectionState.LIVE).exists()
    sent = publisher.send(thread_id, events, trigger="replay")
    # Nobody listening is not a failure: the events go out on the next connect.
    took = sent not in (fanout.Outcome.DROPPED, fanout.Outcome.FAILED)
    now = timezone.now()
    with transaction.atomic():
        if took:
            _mark_sent([e.pk for e in events], now)
            connections.record_attempt(
                thread_id=thread_id,
                connection_id=None,
                trigger="replay",
                from_seq=events[0].seq,
                to_seq=events[-1].seq,
                event_count=len(events),
                detail=f"replay #{replay.pk} by {replay.actor_name}: {replay.reason}",
            )
        outcome = (
            ReplayOutcome.FAILED
            if not took
            else ReplayOutcome.SENT_LIVE
            if online
            else ReplayOutcome.ON_NEXT_CONNECT
        )
        ReplayItem.objects.filter(pk__in=[i.pk for i in items]).update(outcome=outcome, done_at=now)
        counter = "sent" if took else "failed"
        ReplayRequest.objects.filter(pk=replay.pk).update(**{counter: F(counter) + len(items)})


def _mark_sent(event_ids: list[int], now: object) -> None:
    """Unacknowledged events go back into the normal path: `sent`, with a fresh retry budget."""
    Event.objects.filter(pk__in=event_ids, state__in=NOT_ACKED).update(
        state=EventState.SENT,
        first_sent_at=Coalesce(F("first_sent_at"), Value(now)),
        last_sent_at=now,
        attempts=Case(When(state=EventState.UNDELIVERED, then=Value(1)), default=F("attempts") + 1),
    )


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
