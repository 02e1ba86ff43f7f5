"""One thread's story in time order: events with their funnel, connections, repairs, replays
and alerts, plus a plain sentence per unacknowledged event saying why it is not acked.

A fixed number of queries whatever the thread's size: the newest TIMELINE_EVENTS events, their
derived statuses (attempts, ack ranges and undelivered ranges over their seqs), and the
connections, repairs, replay items, alerts and reveals in the time span those events cover.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from console.exceptions import NotFound
from console.models import ContentReveal
from delivery.models import (
    Connection,
    DeliveryAttempt,
    Event,
    Outcome,
    ReplayItem,
    Thread,
    Trigger,
)
from delivery.selectors import EventState, EventStatus, event_statuses
from monitoring.health import threads_with_health
from monitoring.models import Alert

TIMELINE_EVENTS = 200
SIDE_ROWS = 500


@dataclass
class Entry:
    at: datetime
    kind: str  # event, connect, disconnect, attempt, replay, alert, reveal
    obj: Any
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    thread: Thread
    entries: list[Entry]
    open_events: list[Event]
    live: bool
    older_before: int | None


def _fmt(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S}" if moment else "?"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def connection_at(connections: list[Connection], moment: datetime) -> Connection | None:
    """The newest connection open at `moment` (connections are newest first)."""
    for conn in connections:
        if conn.opened_at <= moment and (conn.closed_at is None or conn.closed_at >= moment):
            return conn
    return None


def explain(status: EventStatus, connections: list[Connection], live: bool) -> str:
    """Why an event is not acknowledged, in one sentence an operator can read to a user."""
    if status.state == EventState.ACKED:
        return ""
    if status.last_sent_at is None:
        story = (
            "committed, not yet sent: the fast path failed; the reconciler resends it"
            if live
            else "committed while no client was connected; goes out on next connect"
        )
    else:
        story = _delivery_story(status, connections, live)
    if status.state == EventState.UNDELIVERED:
        cause = status.undelivered_cause or "no ack"
        return f"{story}; given up ({cause}): needs a replay"
    return story


def _delivery_story(status: EventStatus, connections: list[Connection], live: bool) -> str:
    last_sent = status.last_sent_at
    assert last_sent is not None
    count = len(status.sends)
    times = "once" if count == 1 else f"{count} times"
    sent = f"sent {times} (last {_fmt(last_sent)})"
    last = status.sends[-1]
    conn = last.connection or connection_at(connections, last_sent)
    if conn is None:
        return f"{sent} with no connection open; waiting for client"
    if conn.closed_at is not None:
        after = (conn.closed_at - last_sent).total_seconds()
        how = f"died ({conn.close_reason})" if conn.state == "dead" else "closed"
        code = f" with code {conn.close_code}" if conn.close_code else ""
        waiting = "" if live else f"; waiting for client since {_fmt(conn.closed_at)}"
        return f"{sent} to a connection that {how}{code} {_span(after)} later, never acked{waiting}"
    age = (timezone.now() - last_sent).total_seconds()
    acked = f"it acked up to seq {conn.acked_seq}"
    return f"{sent} to the live connection {str(conn.id)[:8]}; no ack for {_span(age)} ({acked})"


def thread_with_health(thread_id: uuid.UUID) -> Thread:
    try:
        return threads_with_health(Thread.objects.select_related("owner")).get(pk=thread_id)
    except Thread.DoesNotExist:
        raise NotFound(f"no thread {thread_id}") from None


def build(thread_id: uuid.UUID, *, before_seq: int | None = None) -> Timeline:
    thread = thread_with_health(thread_id)
    events_qs = Event.objects.filter(thread=thread, created_at__gte=thread.created_at)
    events_qs = events_qs.defer("payload").order_by("-seq")
    if before_seq:
        events_qs = events_qs.filter(seq__lt=before_seq)
    events = list(events_qs[: TIMELINE_EVENTS + 1])
    older = events[TIMELINE_EVENTS].seq + 1 if len(events) > TIMELINE_EVENTS else None
    events = events[:TIMELINE_EVENTS]
    since = events[-1].created_at if older and events else thread.created_at
    until = events[0].created_at if before_seq and events else None

    def window(qs: Any, stamp: str) -> list[Any]:
        qs = qs.filter(**{f"{stamp}__gte": since})
        if until is not None:
            qs = qs.filter(**{f"{stamp}__lte": until})
        return list(qs.order_by(f"-{stamp}")[:SIDE_ROWS])

    statuses = event_statuses(thread=thread, seqs=[e.seq for e in events])
    for event in events:
        event.status = statuses[event.seq]  # type: ignore[attr-defined]
    connections = window(Connection.objects.filter(thread=thread), "opened_at")
    # Live sends and resumes are on each event's funnel; the timeline lists the rest: repairs,
    # polls, and group sends that did not reach every socket.
    attempts = window(
        DeliveryAttempt.objects.filter(thread=thread)
        .exclude(trigger__in=(Trigger.LIVE, Trigger.RESUME), outcome=Outcome.SENT)
        .select_related("connection"),
        "created_at",
    )
    items = window(
        ReplayItem.objects.filter(thread=thread).select_related("replay").exclude(done_at=None),
        "done_at",
    )
    alerts = window(Alert.objects.filter(thread=thread), "first_seen")
    reveals = window(ContentReveal.objects.filter(thread_id=thread.pk), "revealed_at")
    return Timeline(
        thread=thread,
        entries=_merge(events, connections, attempts, items, alerts, reveals, thread.is_live),
        open_events=sorted(
            (e for e in events if e.status.state != EventState.ACKED),  # type: ignore[attr-defined]
            key=lambda e: e.seq,
        ),
        live=thread.is_live,
        older_before=older,
    )


def _merge(
    events: list[Event],
    connections: list[Connection],
    attempts: list[DeliveryAttempt],
    items: list[ReplayItem],
    alerts: list[Alert],
    reveals: list[ContentReveal],
    live: bool,
) -> list[Entry]:
    for event in events:
        event.why = explain(event.status, connections, live)  # type: ignore[attr-defined]
    entries = [Entry(e.created_at, "event", e, e.why) for e in events]  # type: ignore[attr-defined]
    for conn in connections:
        entries.append(Entry(conn.opened_at, "connect", conn))
        if conn.closed_at:
            entries.append(Entry(conn.closed_at, "disconnect", conn))
    entries += [Entry(a.created_at, "attempt", a) for a in attempts]
    entries += _replay_entries(items)
    entries += [Entry(a.first_seen, "alert", a) for a in alerts]
    entries += [Entry(r.revealed_at, "reveal", r) for r in reveals]
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
