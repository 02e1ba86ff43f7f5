"""Reads of the ledger. Each returns a QuerySet or a plain value; none writes."""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from delivery.exceptions import ThreadNotFound
from delivery.models import Event, EventState, Thread


def thread_for_user(*, thread_id: uuid.UUID | str, user: AbstractBaseUser) -> Thread:
    """The thread if `user` owns it. Another user's thread is reported as not found."""
    try:
        return Thread.objects.get(pk=thread_id, owner_id=user.pk)
    except (Thread.DoesNotExist, ValueError):
        raise ThreadNotFound(f"thread {thread_id} not found") from None


def threads_of(*, user: AbstractBaseUser) -> QuerySet[Thread]:
    return Thread.objects.filter(owner_id=user.pk).order_by("-created_at")


def events_after(*, thread_id: uuid.UUID, after: int, limit: int) -> QuerySet[Event]:
    return Event.objects.filter(thread_id=thread_id, seq__gt=after).order_by("seq")[:limit]


def events_between(*, thread_id: uuid.UUID, first: int, last: int) -> QuerySet[Event]:
    return Event.objects.filter(thread_id=thread_id, seq__gte=first, seq__lte=last).order_by("seq")


def last_seq(*, thread_id: uuid.UUID) -> int:
    return Thread.objects.values_list("last_seq", flat=True).get(pk=thread_id)


def acked_watermark(*, thread_id: uuid.UUID) -> int:
    """The highest seq below which every event is acknowledged: a fresh client's resume point."""
    first_open = (
        Event.objects.filter(thread_id=thread_id)
        .exclude(state=EventState.ACKED)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if first_open is None:
        return last_seq(thread_id=thread_id)
    return first_open - 1


def first_retained_seq(*, thread_id: uuid.UUID) -> int | None:
    return (
        Event.objects.filter(thread_id=thread_id)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
