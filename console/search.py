"""Finding a ticket's thread: one box (username, email, title, thread id or URL, event id), a
time range (a preset window or from/to), health, event state and event type, paged by keyset
on (created_at, id), newest first. A query that names exactly one thread is an exact hit."""

import base64
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from console.exceptions import BadFilter
from delivery.models import Event, Thread
from delivery.text import storable, unstorable
from monitoring.health import Health, HealthFlags, threads_with_health

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from monitoring.health import ThreadWithHealth

PAGE_SIZE = 50
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
# Thread states: what its events' derived states add up to.
STATES = {
    "unacked": "with events not acknowledged",
    "undelivered": "with undelivered events",
    "acked": "with every event acknowledged",
}
UUID_RE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends; the console is UTC


def parse_time(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name} must be a date and time like 2026-01-31T14:05 (UTC)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(params: Mapping[str, str], name: str, limit: int) -> str:
    value = params.get(name, "").strip()[:limit]
    if not storable(value):
        raise unstorable(BadFilter, f"the {name}")
    return value


@dataclass(frozen=True)
class ThreadFilter:
    q: str = ""
    window: str = ""
    since: str = ""  # the `from` parameter
    until: str = ""  # the `to` parameter
    health: str = ""
    state: str = ""
    type: str = ""
    owner: str = ""  # a username, exactly: "recover every event of this user"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "ThreadFilter":
        window, health, state = (params.get(k, "") for k in ("window", "health", "state"))
        if window and window not in WINDOWS:
            raise BadFilter(f"window must be one of {', '.join(WINDOWS)}")
        if health and health not in {h.value for h in Health}:
            raise BadFilter(f"health must be one of {', '.join(h.value for h in Health)}")
        if state and state not in STATES:
            raise BadFilter(f"state must be one of {', '.join(STATES)}")
        since, until = params.get("from", "").strip(), params.get("to", "").strip()
        start, end = parse_time(since, "from"), parse_time(until, "to")
        if start and end and end < start:
            raise BadFilter("to must not be before from")
        q, kind = _text(params, "q", 300), _text(params, "type", 64)
        return cls(q, window, since, until, health, state, kind, _text(params, "owner", 150))

    @property
    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def span(self) -> tuple[datetime | None, datetime | None]:
        """The time range asked for: from/to if given, else the preset window up to now."""
        start, end = parse_time(self.since, "from"), parse_time(self.until, "to")
        if start is None and end is None and self.window:
            return timezone.now() - WINDOWS[self.window], None
        return start, end

    def as_params(self) -> dict[str, str]:
        names = {"since": "from", "until": "to"}
        return {names.get(key, key): value for key, value in asdict(self).items() if value}

    def querystring(self, **extra: str) -> str:
        return urlencode({**self.as_params(), **extra})

    def describe(self) -> str:
        parts = [f"“{self.q}”"] if self.q else []
        if self.owner:
            parts.append(f"threads of {self.owner}")
        if self.window and not (self.since or self.until):
            parts.append(f"active in the last {self.window}")
        if self.since or self.until:
            parts.append(f"active {self.since or '…'} to {self.until or 'now'} UTC")
        if self.health:
            parts.append(f"health {self.health}")
        if self.state:
            parts.append(STATES[self.state])
        if self.type:
            parts.append(f"with {self.type} events")
        return ", ".join(parts) or "all threads"


def _text_match(q: str) -> Q:
    """Resolve the box to thread ids or owner ids first: each lookup is one index probe, and
    the thread query then walks `thread_owner_recent_idx` or the primary key. Any other words,
    and a username or email too, also match thread titles (a substring, any case): a ticket's
    "alice's refund" finds the thread bob titled so as well as alice's own."""
    found = UUID_RE.search(q)
    if found:
        ident = uuid.UUID(found.group(0))
        by_event = Event.objects.filter(event_id=ident).values_list("thread_id", flat=True)
        return Q(pk__in=[ident, *by_event])
    users = get_user_model().objects
    field = "email" if "@" in q else "username"
    owners = list(users.filter(**{f"{field}__iexact": q}).values_list("pk", flat=True))
    by_title = Q(title__icontains=q)
    return Q(owner_id__in=owners) | by_title if owners else by_title


def _events_in(start: datetime | None, end: datetime | None) -> QuerySet[Event]:
    """A thread's events in the span (bounded below by the thread's start at least, so
    PostgreSQL reads only the day partitions that can hold them)."""
    since = start or OuterRef("created_at")
    events = Event.objects.filter(thread=OuterRef("pk"), created_at__gte=since)
    return events.filter(created_at__lte=end) if end else events


def matching_threads(flt: ThreadFilter) -> "QuerySet[ThreadWithHealth]":
    """Threads matching the filter, health-annotated (monitoring.health), in no order."""
    threads = Thread.objects.all()
    if flt.q:
        threads = threads.filter(_text_match(flt.q))
    if flt.owner:
        threads = threads.filter(owner__username=flt.owner)
    start, end = flt.span()
    if start or end:
        created = Q(created_at__gte=start) if start else Q()
        if end:
            created &= Q(created_at__lte=end)
        threads = threads.filter(created | Exists(_events_in(start, end)))
    if flt.type:
        threads = threads.filter(Exists(_events_in(start, end).filter(type=flt.type)))
    if flt.state == "unacked":
        threads = threads.filter(acked_seq__lt=F("last_seq"))
    elif flt.state == "acked":
        threads = threads.filter(acked_seq=F("last_seq"))
    graded = threads_with_health(threads)
    if flt.state == "undelivered":
        graded = graded.filter(has_undelivered=True)
    if flt.health:
        graded = graded.filter(health=flt.health)
    return graded


def encode_cursor(thread: Thread) -> str:
    raw = f"{thread.created_at.isoformat()}|{thread.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|")
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise BadFilter("the page cursor is not valid") from None


class ListedFlags(HealthFlags):
    """A listed thread's annotations: its health flags and its count of unacknowledged events."""

    open_count: int


if TYPE_CHECKING:
    ListedThread = WithAnnotations[Thread, ListedFlags]


@dataclass
class ThreadPage:
    threads: "list[ListedThread]"
    next_cursor: str | None


def thread_page(flt: ThreadFilter, *, cursor: str = "") -> ThreadPage:
    """One page of matches, newest first, with owner, last activity and open-event count."""
    threads = matching_threads(flt).select_related("owner")
    if cursor:
        created, ident = decode_cursor(cursor)
        threads = threads.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=ident))
    # The thread row knows its newest event's time (`last_event_at`) and its unacked count.
    threads = threads.annotate(open_count=F("last_seq") - F("acked_seq")).order_by(
        "-created_at", "-pk"
    )
    rows = list(threads[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return ThreadPage(threads=rows, next_cursor=encode_cursor(rows[-1]) if more else None)


@dataclass
class ExactHit:
    thread_id: uuid.UUID
    seq: int | None  # the event the query named, if it named one


def exact_hit(flt: ThreadFilter, page: ThreadPage, *, cursor: str = "") -> ExactHit | None:
    """The one thread the box named exactly (its id or URL, one of its event ids, or its
    owner's username, email or its title, in full), when it is the only match of the first
    page. A substring of a title is a search, not a hit."""
    if not flt.q or cursor or len(page.threads) != 1 or page.next_cursor:
        return None
    thread = page.threads[0]
    found = UUID_RE.search(flt.q)
    if found:
        ident = uuid.UUID(found.group(0))
        if ident == thread.pk:
            return ExactHit(thread.pk, None)
        seq = Event.objects.filter(event_id=ident).values_list("seq", flat=True).first()
        return ExactHit(thread.pk, seq)
    owner = thread.owner
    names = {owner.get_username().lower(), (owner.email or "").lower(), thread.title.lower()}
    return ExactHit(thread.pk, None) if flt.q.lower() in names else None
