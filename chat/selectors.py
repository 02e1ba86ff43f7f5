"""Reads for the chat page, on top of `delivery.selectors`."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery

from delivery import selectors
from delivery.models import Event, Thread

HISTORY_LIMIT = 5000


def thread_list(*, user: AbstractBaseUser) -> QuerySet[Thread]:
    """The user's threads, newest first, each with its first message as `first_text`."""
    first = (
        Event.objects.filter(thread=OuterRef("pk"), type="user_message")
        .order_by("seq")
        .values("payload__text")[:1]
    )
    return selectors.threads_of(user=user).annotate(first_text=Subquery(first))[:50]


def history(*, thread: Thread) -> tuple[list[Event], int]:
    """The thread's latest events (up to `HISTORY_LIMIT`) and the last seq among them."""
    after = max(0, thread.last_seq - HISTORY_LIMIT)
    events = list(
        selectors.events_after(
            thread_id=thread.id, after=after, limit=HISTORY_LIMIT, since=thread.created_at
        )
    )
    return events, events[-1].seq if events else after
