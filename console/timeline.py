"""One thread's story in time order: events with every attempt to deliver them, connections
(WebSockets and long-poll sessions), repairs, replays, alerts and reveals, plus a plain sentence
per unacknowledged event saying why it is not acked (console/why.py). Runs of one event type
collapse (console/grouping.py); filters by type and state show only the events that match.

A fixed number of queries whatever the thread's size: the newest TIMELINE_EVENTS events (more
chunks only when filtering by a state the ledger derives), their statuses and attempt history
(attempts, ack ranges and undelivered ranges over their seqs), and the connections, repairs,
replay items, alerts and reveals in the time span those events cover.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from console.exceptions import BadFilter, NotFound
from console.grouping import collapse
from console.models import ContentReveal
from console.why import explain
from delivery.event_types import EventType
from delivery.ledger.selectors import EventState, attempt_history, event_statuses
from delivery.models import (
    Connection,
    DeliveryAttempt,
    Event,
    Outcome,
    ReplayItem,
    Thread,
    Trigger,
)
from monitoring.health import threads_with_health
from monitoring.models import Alert

if TYPE_CHECKING:
    from monitoring.health import ThreadWithHealth

TIMELINE_EVENTS = 200
SIDE_ROWS = 500
MAX_CHUNKS = 10  # a derived-state filter reads at most this many pages of events
STATE_FILTERS = {
    "unacked": "not acknowledged",
    **{str(s): str(s) for s in EventState},
}
KNOWN_TYPES = [t.value for t in EventType]
# Sends on every event's own attempt list; the timeline's rows are the rest (repairs, group
# sends that did not reach every socket).
ON_EVENTS = (Trigger.LIVE, Trigger.RESUME, Trigger.POLL)


@dataclass
class Entry:
    at: datetime
    kind: str  # event, run, connect, disconnect, attempt, replay, alert, reveal
    obj: Any
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventFilter:
    type: str = ""
    state: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "EventFilter":
        state = params.get("state", "")
        if state and state not in STATE_FILTERS:
            raise BadFilter(f"state must be one of {', '.join(STATE_FILTERS)}")
        return cls(type=params.get("type", "").strip()[:64], state=state)

    @property
    def active(self) -> bool:
        return bool(self.type or self.state)

    def keeps(self, state: str) -> bool:
        if self.state == "unacked":
            return state != EventState.ACKED
        return not self.state or state == self.state


@dataclass
class Timeline:
    thread: "ThreadWithHealth"
    entries: list[Entry]
    open_events: list[Event]
    live: bool
    older_before: int | None
    types: list[str]
    flt: EventFilter


def thread_with_health(thread_id: uuid.UUID) -> "ThreadWithHealth":
    try:
        return threads_with_health(Thread.objects.select_related("owner")).get(pk=thread_id)
    except Thread.DoesNotExist:
        raise NotFound(f"no thread {thread_id}") from None


def event_types(thread: Thread) -> list[str]:
    """The types this thread's events have (the filter's choices)."""
    events = Event.objects.filter(thread=thread, created_at__gte=thread.created_at)
    return sorted(events.order_by().values_list("type", flat=True).distinct()[:100])


def build(
    thread_id: uuid.UUID, *, before_seq: int | None = None, flt: EventFilter | None = None
) -> Timeline:
    flt = flt or EventFilter()
    thread = thread_with_health(thread_id)
    events, older = _events_page(thread, before_seq, flt)
    # The other rows cover the span of the events shown: back to the oldest of them when there
    # are older ones (else to the thread's start), up to the newest when paging back.
    since = events[-1].created_at if older and events else thread.created_at
    until = events[0].created_at if before_seq and events else None
    side = _side_rows(thread, since, until, events_only=flt.active)
    return Timeline(
        thread=thread,
        entries=collapse(_merge(events, side, thread.is_live), _run_entry),
        open_events=sorted(
            (e for e in events if e.status.state != EventState.ACKED),  # type: ignore[attr-defined]
            key=lambda e: e.seq,
        ),
        live=thread.is_live,
        older_before=older,
        types=event_types(thread),
        flt=flt,
    )


def _run_entry(members: list[Entry], extra: dict[str, Any]) -> Entry:
    return Entry(members[0].at, "run", None, extra=extra)


def _events_page(
    thread: Thread, before_seq: int | None, flt: EventFilter
) -> tuple[list[Event], int | None]:
    """The newest TIMELINE_EVENTS events below `before_seq` that pass the filter, without
    payloads, each with its derived status and attempt history; and the `before` of the next
    page back, if there are older events."""
    events_qs = Event.objects.filter(thread=thread, created_at__gte=thread.created_at)
    events_qs = events_qs.defer("payload").order_by("-seq")
    if flt.type:
        events_qs = events_qs.filter(type=flt.type)
    if flt.state == EventState.ACKED:
        events_qs = events_qs.filter(seq__lte=thread.acked_seq)
    elif flt.state:
        events_qs = events_qs.filter(seq__gt=thread.acked_seq)
    found: list[Event] = []
    for _ in range(MAX_CHUNKS):
        chunk_qs = events_qs.filter(seq__lt=before_seq) if before_seq else events_qs
        chunk = list(chunk_qs[: TIMELINE_EVENTS + 1])
        _attach(thread, chunk)
        found += [e for e in chunk if flt.keeps(e.status.state)]  # type: ignore[attr-defined]
        if len(found) > TIMELINE_EVENTS or len(chunk) <= TIMELINE_EVENTS:
            break
        before_seq = chunk[-1].seq
    older = found[TIMELINE_EVENTS].seq + 1 if len(found) > TIMELINE_EVENTS else None
    return found[:TIMELINE_EVENTS], older


def _attach(thread: Thread, events: list[Event]) -> None:
    statuses = event_statuses(thread=thread, seqs=[e.seq for e in events])
    history = attempt_history(thread=thread, statuses=statuses)
    for event in events:
        event.status = statuses[event.seq]  # type: ignore[attr-defined]
        event.history = history[event.seq]  # type: ignore[attr-defined]


@dataclass
class SideRows:
    """What else happened on the thread while the events shown were delivered."""

    connections: list[Connection] = field(default_factory=list)
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    items: list[ReplayItem] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    reveals: list[ContentReveal] = field(default_factory=list)
    # A filtered timeline lists only its events; the connections still explain them.
    connection_rows: bool = True


def _window(qs: QuerySet[Any], stamp: str, since: datetime, until: datetime | None) -> list[Any]:
    qs = qs.filter(**{f"{stamp}__gte": since})
    if until is not None:
        qs = qs.filter(**{f"{stamp}__lte": until})
    return list(qs.order_by(f"-{stamp}")[:SIDE_ROWS])


def _side_rows(
    thread: Thread, since: datetime, until: datetime | None, *, events_only: bool
) -> SideRows:
    connections = _window(Connection.objects.filter(thread=thread), "opened_at", since, until)
    if events_only:
        return SideRows(connections=connections, connection_rows=False)
    attempts = (
        DeliveryAttempt.objects.filter(thread=thread)
        .exclude(trigger__in=ON_EVENTS, outcome=Outcome.SENT)
        .select_related("connection")
    )
    items = ReplayItem.objects.filter(thread=thread).select_related("replay").exclude(done_at=None)
    return SideRows(
        connections=connections,
        attempts=_window(attempts, "created_at", since, until),
        items=_window(items, "done_at", since, until),
        alerts=_window(Alert.objects.filter(thread=thread), "first_seen", since, until),
        reveals=_window(
            ContentReveal.objects.filter(thread_id=thread.pk), "revealed_at", since, until
        ),
    )


def _merge(events: list[Event], side: SideRows, live: bool) -> list[Entry]:
    for event in events:  # the "not acknowledged" table shows it too
        event.why = explain(event.status, side.connections, live)  # type: ignore[attr-defined]
    entries = [Entry(e.created_at, "event", e, e.why) for e in events]  # type: ignore[attr-defined]
    for conn in side.connections if side.connection_rows else []:
        entries.append(Entry(conn.opened_at, "connect", conn))
        if conn.closed_at:
            entries.append(Entry(conn.closed_at, "disconnect", conn))
    entries += [Entry(a.created_at, "attempt", a) for a in side.attempts]
    entries += _replay_entries(side.items)
    entries += [Entry(a.first_seen, "alert", a) for a in side.alerts]
    entries += [Entry(r.revealed_at, "reveal", r) for r in side.reveals]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


def _replay_entries(items: list[ReplayItem]) -> list[Entry]:
    """One entry per replay batch on this thread: who, why, which seqs, what became of them."""
    grouped: dict[int, list[ReplayItem]] = {}
    for item in items:
        grouped.setdefault(item.replay_id, []).append(item)
    entries = []
    for group in grouped.values():
        seqs = sorted(i.seq for i in group)
        outcomes = sorted({i.get_outcome_display() for i in group})
        at = max(i.done_at for i in group if i.done_at)
        extra = {"seqs": seqs, "outcomes": outcomes, "first": seqs[0], "last": seqs[-1]}
        entries.append(Entry(at, "replay", group[0].replay, extra=extra))
    return entries
