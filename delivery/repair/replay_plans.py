"""Replay plans: the dry run. A scope (one event, a seq range, a thread's unacknowledged
events, or the undelivered events of a search) becomes the events a replay would send, each
with its derived status; nothing is written."""

import uuid
from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet

from delivery.exceptions import ReplayError
from delivery.ledger import selectors
from delivery.models import (
    Connection,
    ConnectionState,
    Event,
    ReplayScope,
    Thread,
    UndeliveredRange,
)

MAX_EVENTS = 5000


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


def parse_id(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ReplayError(f"{value!r} is not an id") from None
