"""What a replay would send, as the console plans it on top of delivery's plans: events picked
by their derived state (never acknowledged ones unless an operator asks), a search's or a
user's events between two times ("recover since"), and the dry run's summary.

delivery.repair.replay plans one event, a seq range and a thread's unacknowledged events; the
console narrows those by state, and plans a search itself, chunk by chunk in (thread, seq)
order, so a plan holds at most MAX_EVENTS events of the states asked for.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from console.search import ThreadFilter, matching_threads
from delivery.ledger.selectors import EventState, event_statuses
from delivery.models import (
    Connection,
    ConnectionState,
    Event,
    ReplayScope,
    Thread,
    UndeliveredRange,
)
from delivery.repair.replay import MAX_EVENTS, ReplayPlan

EVENT_STATES = (EventState.UNDELIVERED, EventState.SENT, EventState.COMMITTED, EventState.ACKED)
UNACKED = (EventState.UNDELIVERED, EventState.SENT, EventState.COMMITTED)
CHUNK = 1000
PAGE_ROWS = 100


def parse_states(params: Mapping[str, str], default: Iterable[str]) -> tuple[str, ...]:
    """The event states asked for: `states` as a comma-separated value (the API, hidden
    fields) or repeated (checkboxes); `default` when there is none. Unknown names are refused
    by the caller's scope, which lists the known ones."""
    getlist = getattr(params, "getlist", None)
    raw = ",".join(getlist("states")) if getlist else params.get("states", "")
    picked = {name.strip() for name in raw.split(",") if name.strip()}
    return tuple(s for s in EVENT_STATES if s in picked) if picked else tuple(default)


def unknown_states(params: Mapping[str, str]) -> set[str]:
    getlist = getattr(params, "getlist", None)
    raw = ",".join(getlist("states")) if getlist else params.get("states", "")
    return {name.strip() for name in raw.split(",") if name.strip()} - set(EVENT_STATES)


@dataclass
class ScopedPlan:
    """A delivery ReplayPlan narrowed to `states`, and what the narrowing left out."""

    plan: ReplayPlan
    states: tuple[str, ...]
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def includes_acked(self) -> bool:
        return EventState.ACKED in self.states


def attach_statuses(events: list[Event]) -> None:
    """Each event's derived status as `event.status`: three range reads per thread."""
    by_thread: dict[uuid.UUID, list[Event]] = {}
    for event in events:
        by_thread.setdefault(event.thread_id, []).append(event)
    for thread in Thread.objects.filter(pk__in=list(by_thread)):
        statuses = event_statuses(thread=thread, seqs=[e.seq for e in by_thread[thread.pk]])
        for event in by_thread[thread.pk]:
            event.status = statuses[event.seq]  # type: ignore[attr-defined]


def state_of(event: Event) -> str:
    return str(event.status.state)  # type: ignore[attr-defined]


def online(thread_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    live = Connection.objects.filter(thread_id__in=thread_ids, state=ConnectionState.LIVE)
    return set(live.values_list("thread_id", flat=True))


def narrow(plan: ReplayPlan, states: tuple[str, ...]) -> ScopedPlan:
    """Keep the plan's events in `states`; count the others by state."""
    kept = [e for e in plan.events if state_of(e) in states]
    left_out = Counter(state_of(e) for e in plan.events if state_of(e) not in states)
    detail = {**plan.detail, "states": ",".join(states)}
    narrowed = ReplayPlan(plan.scope, detail, kept, plan.online, plan.truncated)
    return ScopedPlan(narrowed, states, dict(left_out))


def _search_events(flt: ThreadFilter, states: tuple[str, ...]) -> QuerySet[Event]:
    events = Event.objects.filter(thread_id__in=matching_threads(flt).values("pk"))
    start, end = flt.span()
    if start:
        events = events.filter(created_at__gte=start)
    if end:
        events = events.filter(created_at__lte=end)
    if EventState.ACKED not in states:
        events = events.filter(seq__gt=F("thread__acked_seq"))
    if set(states) == {EventState.UNDELIVERED}:
        lost = UndeliveredRange.objects.filter(
            thread_id=OuterRef("thread_id"),
            reopened_at__isnull=True,
            first_seq__lte=OuterRef("seq"),
            last_seq__gte=OuterRef("seq"),
        )
        events = events.filter(Exists(lost))
    return events.order_by("thread_id", "seq")


def plan_search(flt: ThreadFilter, states: tuple[str, ...]) -> ScopedPlan:
    """Every event in `states` of the threads matching `flt`, within its time range: read in
    chunks, each event's state derived, until MAX_EVENTS are found."""
    events = _search_events(flt, states)
    kept: list[Event] = []
    after: tuple[uuid.UUID, int] | None = None
    while len(kept) <= MAX_EVENTS:
        chunk_qs = events
        if after is not None:
            chunk_qs = events.filter(
                Q(thread_id__gt=after[0]) | Q(thread_id=after[0], seq__gt=after[1])
            )
        chunk = list(chunk_qs[:CHUNK])
        if not chunk:
            break
        attach_statuses(chunk)
        kept += [e for e in chunk if state_of(e) in states]
        after = (chunk[-1].thread_id, chunk[-1].seq)
    detail = {**flt.as_params(), "states": ",".join(states)}
    plan = ReplayPlan(ReplayScope.FILTER, detail, kept[:MAX_EVENTS])
    plan.truncated = len(kept) > MAX_EVENTS
    plan.online = online(plan.thread_ids)
    return ScopedPlan(plan, states)


def seq_ranges(seqs: list[int]) -> str:
    """`[3, 4, 9, 12, 13, 14]` as "#3-4, #9, #12-14" (with en dashes)."""
    parts: list[str] = []
    ordered = sorted(seqs)
    start = prev = ordered[0] if ordered else 0
    for seq in [*ordered[1:], None]:
        if seq is not None and seq == prev + 1:
            prev = seq
            continue
        parts.append(f"#{start}" if start == prev else f"#{start}–{prev}")  # noqa: RUF001
        if seq is not None:
            start = prev = seq
    return ", ".join(parts) if ordered else ""


@dataclass
class ThreadLine:
    thread_id: uuid.UUID
    owner: str
    title: str
    count: int
    ranges: str
    online: bool


@dataclass
class PlanSummary:
    by_type: list[tuple[str, int]]
    by_state: list[tuple[str, int]]
    threads: list[ThreadLine]


def summarize(plan: ReplayPlan, *, thread_rows: int = 50) -> PlanSummary:
    """Counts by type and state, and the first `thread_rows` threads with their seq ranges."""
    seqs: dict[uuid.UUID, list[int]] = {}
    for event in plan.events:
        seqs.setdefault(event.thread_id, []).append(event.seq)
    shown = list(seqs)[:thread_rows]
    threads = Thread.objects.select_related("owner").in_bulk(shown)
    lines = [
        ThreadLine(
            tid,
            threads[tid].owner.get_username() if tid in threads else "?",
            threads[tid].title if tid in threads else "",
            len(seqs[tid]),
            seq_ranges(seqs[tid]),
            tid in plan.online,
        )
        for tid in shown
    ]
    by_state = Counter(state_of(e) for e in plan.events)
    return PlanSummary(
        by_type=Counter(e.type for e in plan.events).most_common(),
        by_state=[(s, by_state[s]) for s in EVENT_STATES if by_state[s]],
        threads=lines,
    )


@dataclass
class RowPage:
    rows: list[Event]
    number: int
    pages: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def paging(total: int, number: int, size: int = PAGE_ROWS) -> RowPage:
    """Page `number` (1-based, clamped) of `total` rows, without the rows."""
    pages = max(1, -(-total // size))
    return RowPage([], min(max(1, number), pages), pages)


def page_of(events: list[Event], number: int, size: int = PAGE_ROWS) -> RowPage:
    found = paging(len(events), number, size)
    found.rows = events[(found.number - 1) * size : found.number * size]
    return found
