"""Reads of the ledger. Each returns a QuerySet or a plain value; none writes.

An event's state is derived here, never stored: acked when its seq is at or below the thread's
acked watermark, undelivered when an open UndeliveredRange covers it, sent when an attempt
with outcome `sent` covers it, and committed otherwise.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet, TextChoices

from delivery.exceptions import ThreadNotFound
from delivery.models import AckRange, DeliveryAttempt, Event, Outcome, Thread, UndeliveredRange


class EventState(TextChoices):
    COMMITTED = "committed", "committed, not yet sent"
    SENT = "sent"
    ACKED = "acked"
    UNDELIVERED = "undelivered"


def thread_for_user(*, thread_id: uuid.UUID | str, user: AbstractBaseUser) -> Thread:
    """The thread if `user` owns it. Another user's thread is reported as not found."""
    try:
        return Thread.objects.get(pk=thread_id, owner_id=user.pk)
    except (Thread.DoesNotExist, ValueError):
        raise ThreadNotFound(f"thread {thread_id} not found") from None


def thread_for_reader(*, thread_id: uuid.UUID | str, user: AbstractBaseUser | None) -> Thread:
    """The thread for its owner, or for a service (`user` None: a `read` API key), which
    owns no thread and reads any."""
    if user is not None:
        return thread_for_user(thread_id=thread_id, user=user)
    try:
        return Thread.objects.get(pk=thread_id)
    except (Thread.DoesNotExist, ValueError):
        raise ThreadNotFound(f"thread {thread_id} not found") from None


def threads_of(*, user: AbstractBaseUser) -> QuerySet[Thread]:
    return Thread.objects.filter(owner_id=user.pk).order_by("-created_at")


def thread_events(*, thread_id: uuid.UUID, since: datetime | None = None) -> QuerySet[Event]:
    """A thread's events. `since` (the thread's `created_at`) lets PostgreSQL skip the day
    partitions from before the thread existed."""
    events = Event.objects.filter(thread_id=thread_id)
    return events.filter(created_at__gte=since) if since is not None else events


def events_after(
    *, thread_id: uuid.UUID, after: int, limit: int, since: datetime | None = None
) -> QuerySet[Event]:
    events = thread_events(thread_id=thread_id, since=since)
    return events.filter(seq__gt=after).order_by("seq")[:limit]


def events_before(
    *, thread_id: uuid.UUID, before: int, limit: int, since: datetime | None = None
) -> QuerySet[Event]:
    """Up to `limit` events below seq `before`, newest first: one keyset page back through a
    thread's history (the next page is `before` the lowest seq of this one)."""
    events = thread_events(thread_id=thread_id, since=since)
    return events.filter(seq__lt=before).order_by("-seq")[:limit]


def events_between(
    *, thread_id: uuid.UUID, first: int, last: int, since: datetime | None = None
) -> QuerySet[Event]:
    events = thread_events(thread_id=thread_id, since=since)
    return events.filter(seq__gte=first, seq__lte=last).order_by("seq")


def last_seq(*, thread_id: uuid.UUID) -> int:
    return Thread.objects.values_list("last_seq", flat=True).get(pk=thread_id)


def ledger_position(*, thread_id: uuid.UUID) -> tuple[int, int]:
    """The thread's last seq and its acked watermark, read together."""
    return Thread.objects.values_list("last_seq", "acked_seq").get(pk=thread_id)


def first_retained_seq(*, thread_id: uuid.UUID, since: datetime | None = None) -> int | None:
    return (
        thread_events(thread_id=thread_id, since=since)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )


def open_undelivered(*, thread: Thread) -> QuerySet[UndeliveredRange]:
    """The thread's undelivered ranges that no ack has settled and no replay reopened."""
    return UndeliveredRange.objects.filter(
        thread=thread, reopened_at__isnull=True, last_seq__gt=thread.acked_seq
    ).order_by("first_seq")


@dataclass
class EventStatus:
    """Everything the ledger knows about one event's delivery."""

    state: str
    acked_at: datetime | None = None
    undelivered_cause: str = ""
    attempts: list[DeliveryAttempt] = field(default_factory=list)  # covering it, oldest first

    @property
    def sends(self) -> list[DeliveryAttempt]:
        """The sends that reached a client: frames a connection wrote (or, for the ledger's
        migrated history, group sends with no connection recorded)."""
        sent = [a for a in self.attempts if a.outcome == Outcome.SENT]
        written = [a for a in sent if a.connection_id is not None]
        return written or sent

    @property
    def first_sent_at(self) -> datetime | None:
        sends = self.sends
        return sends[0].created_at if sends else None

    @property
    def last_sent_at(self) -> datetime | None:
        sends = self.sends
        return sends[-1].created_at if sends else None


def event_statuses(*, thread: Thread, seqs: list[int]) -> dict[int, EventStatus]:
    """The derived status of each of `seqs` (a page of one thread): three range reads."""
    if not seqs:
        return {}
    low, high = min(seqs), max(seqs)
    attempts = list(
        DeliveryAttempt.objects.filter(thread=thread, last_seq__gte=low, first_seq__lte=high)
        .select_related("connection")
        .order_by("created_at", "id")
    )
    acks = list(
        AckRange.objects.filter(thread=thread, upto__gte=low, above__lt=high).order_by("above")
    )
    undelivered = list(
        UndeliveredRange.objects.filter(
            thread=thread, reopened_at__isnull=True, last_seq__gte=low, first_seq__lte=high
        )
    )
    return {seq: _status(thread, seq, attempts, acks, undelivered) for seq in seqs}


def _status(
    thread: Thread,
    seq: int,
    attempts: list[DeliveryAttempt],
    acks: list[AckRange],
    undelivered: list[UndeliveredRange],
) -> EventStatus:
    covering = [a for a in attempts if a.first_seq <= seq <= a.last_seq]
    if seq <= thread.acked_seq:
        acked_at = next((a.acked_at for a in acks if a.above < seq <= a.upto), None)
        return EventStatus(EventState.ACKED, acked_at=acked_at, attempts=covering)
    lost = next((u for u in undelivered if u.first_seq <= seq <= u.last_seq), None)
    if lost is not None:
        return EventStatus(EventState.UNDELIVERED, undelivered_cause=lost.cause, attempts=covering)
    status = EventStatus(EventState.COMMITTED, attempts=covering)
    if status.sends:
        status.state = EventState.SENT
    return status


@dataclass
class AttemptRecord:
    """One send covering an event, and when the event's acknowledgement answered it (if it did)."""

    attempt: DeliveryAttempt
    acked_at: datetime | None = None


def attempt_history(
    *, thread: Thread, statuses: dict[int, EventStatus]
) -> dict[int, list[AttemptRecord]]:
    """Each event's attempts (as `event_statuses` found them), oldest first, with the ack time
    on the send that the ack answered: the last `sent` attempt on the connection the event's
    ack range was recorded on, made before that ack. One range read: the thread's ack ranges
    over the events' seqs."""
    if not statuses:
        return {}
    low, high = min(statuses), max(statuses)
    acks = list(
        AckRange.objects.filter(thread=thread, upto__gte=low, above__lt=high).order_by("above")
    )
    history = {}
    for seq, status in statuses.items():
        records = [AttemptRecord(attempt) for attempt in status.attempts]
        ack = next((a for a in acks if a.above < seq <= a.upto), None)
        if ack is not None:
            answered = [
                r
                for r in records
                if r.attempt.outcome == Outcome.SENT
                and r.attempt.created_at <= ack.acked_at
                and ack.connection_id in (None, r.attempt.connection_id)
            ]
            if answered:
                answered[-1].acked_at = ack.acked_at
        history[seq] = records
    return history
