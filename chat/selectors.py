"""Reads for the chat page, on top of `delivery.ledger.selectors`."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery

from delivery.event_types import EventType
from delivery.ledger import selectors
from delivery.models import Event, Thread

OPENING_TURNS = 20  # a thread opens on at most this many of its newest turns...
OPENING_EVENTS = 400  # ...as long as they fit this many events; the newest turn always does
HISTORY_LIMIT = 6000  # but no page is longer than this (a turn of `/burst 5000` fits)


@dataclass(frozen=True)
class Opening:
    """What a thread page shows first: its newest turns, whole."""

    events: list[Event]
    rendered_seq: int  # the newest seq on the page: the client resumes after it
    first_retained: int | None  # the oldest seq the ledger still holds (None: none)

    @property
    def has_earlier(self) -> bool:
        """Older events are retained than the page shows: "Load earlier" fetches them."""
        first = self.events[0].seq if self.events else self.rendered_seq + 1
        return self.first_retained is not None and first > self.first_retained

    @property
    def past_retention(self) -> bool:
        """The page reaches back to the oldest retained event, and older ones were pruned."""
        if self.has_earlier:
            return False
        return (self.first_retained or self.rendered_seq + 1) > 1


def thread_list(*, user: AbstractBaseUser) -> QuerySet[Thread]:
    """The user's threads, newest first, each with its first message as `first_text`."""
    first = (
        Event.objects.filter(thread=OuterRef("pk"), type=EventType.USER_MESSAGE)
        .order_by("seq")
        .values("payload__text")[:1]
    )
    return selectors.threads_of(user=user).annotate(first_text=Subquery(first))[:50]


def first_message(*, thread: Thread) -> str:
    """The thread's oldest retained user message: its name when it has no title."""
    text = (
        selectors.thread_events(thread_id=thread.id, since=thread.created_at)
        .filter(type=EventType.USER_MESSAGE)
        .order_by("seq")
        .values_list("payload__text", flat=True)
        .first()
    )
    return str(text or "")


def _opening_start(thread: Thread) -> int:
    """The seq a page starts at: a user message, so that no answer shows without its question."""
    turns = list(
        selectors.thread_events(thread_id=thread.id, since=thread.created_at)
        .filter(type=EventType.USER_MESSAGE)
        .order_by("-seq")
        .values_list("seq", flat=True)[:OPENING_TURNS]
    )
    if not turns:
        return max(1, thread.last_seq - OPENING_EVENTS + 1)
    fitting = [seq for seq in turns if thread.last_seq - seq < OPENING_EVENTS]
    start = min(fitting) if fitting else turns[0]
    return max(start, thread.last_seq - HISTORY_LIMIT + 1)


def opening(*, thread: Thread) -> Opening:
    """The thread's newest turns, and where its retained history begins."""
    start = _opening_start(thread)
    events = list(
        selectors.events_after(
            thread_id=thread.id, after=start - 1, limit=HISTORY_LIMIT, since=thread.created_at
        )
    )
    first = selectors.first_retained_seq(thread_id=thread.id, since=thread.created_at)
    rendered = events[-1].seq if events else thread.last_seq
    return Opening(events, rendered, first)
