"""Finding a ticket's thread: one box (username, email, thread id or URL, event id), a time
window and a health filter, paged by keyset on (created_at, id), newest first."""

import base64
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from console.exceptions import BadFilter
from delivery.models import Event, Thread
from monitoring.health import Health, threads_with_health

PAGE_SIZE = 50
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
UUID_RE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


@dataclass(frozen=True)
class ThreadFilter:
    q: str = ""
    window: str = ""
    health: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "ThreadFilter":
        window = params.get("window", "")
        health = params.get("health", "")
        if window and window not in WINDOWS:
            raise BadFilter(f"window must be one of {', '.join(WINDOWS)}")
        if health and health not in {h.value for h in Health}:
            raise BadFilter(f"health must be one of {', '.join(h.value for h in Health)}")
        return cls(q=params.get("q", "").strip()[:300], window=window, health=health)

    @property
    def is_empty(self) -> bool:
        return not (self.q or self.window or self.health)

    def as_params(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value}

    def querystring(self, **extra: str) -> str:
        return urlencode({**self.as_params(), **extra})

    def describe(self) -> str:
        parts = [f"“{self.q}”"] if self.q else []
        if self.window:
            parts.append(f"active in the last {self.window}")
        if self.health:
            parts.append(f"health {self.health}")
        return ", ".join(parts) or "all threads"


def _text_match(q: str) -> Q:
    """Resolve the box to thread ids or owner ids first: each lookup is one index probe, and
    the thread query then walks `thread_owner_recent_idx` or the primary key, never the table."""
    found = UUID_RE.search(q)
    if found:
        ident = uuid.UUID(found.group(0))
        by_event = Event.objects.filter(event_id=ident).values_list("thread_id", flat=True)
        return Q(pk__in=[ident, *by_event])
    users = get_user_model().objects
    field = "email" if "@" in q else "username"
    owners = list(users.filter(**{f"{field}__iexact": q}).values_list("pk", flat=True))
    return Q(owner_id__in=owners)


def matching_threads(flt: ThreadFilter) -> QuerySet[Thread]:
    """Threads matching the filter, health-annotated (monitoring.health), in no order."""
    threads = Thread.objects.all()
    if flt.q:
        threads = threads.filter(_text_match(flt.q))
    if flt.window:
        since = timezone.now() - WINDOWS[flt.window]
        recent = Event.objects.filter(thread=OuterRef("pk"), created_at__gte=since)
        threads = threads.filter(Q(created_at__gte=since) | Exists(recent))
    threads = threads_with_health(threads)
    if flt.health:
        threads = threads.filter(health=flt.health)
    return threads


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


@dataclass
class ThreadPage:
    threads: list[Thread]
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
