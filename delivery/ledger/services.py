"""Writes to the ledger. `emit` and `emit_many` are the one public way to send an event."""

import logging
import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction

from delivery import metrics, signals
from delivery.event_types import EventType
from delivery.exceptions import (
    IdempotencyConflict,
    InvalidEvent,
    LedgerWriteFailed,
    ThreadNotFound,
)
from delivery.fastpath.fanout import GroupSend
from delivery.fastpath.publisher import publisher
from delivery.ledger import append, budgets
from delivery.ledger.append import EventSpec
from delivery.ledger.progress import record_group_sends
from delivery.models import ApiKey, Event, Outcome, Publication, Thread, Trigger
from delivery.text import storable, unstorable

logger = logging.getLogger(__name__)

ThreadRef = Thread | uuid.UUID | str


def emit(
    thread: ThreadRef,
    type: str,
    payload: dict[str, Any] | None = None,
    *,
    critical: bool = True,
    idempotency_key: str | None = None,
) -> Event:
    """Commit one event to the ledger, then send it on the fast path after commit.

    Raises `InvalidEvent` for a bad type or payload, `ThreadNotFound`, and `LedgerWriteFailed`
    when the commit fails. A failed fast path never raises: the event stays pending.
    Repeating an `idempotency_key` returns the event it first created.
    """
    return emit_many(thread, [(type, payload)], critical=critical, idempotency_key=idempotency_key)[
        0
    ]


def emit_many(
    thread: ThreadRef,
    items: Sequence[EventSpec],
    *,
    critical: bool = True,
    idempotency_key: str | None = None,
) -> list[Event]:
    """Commit several events in one transaction; one channel-layer message carries them all."""
    events, _ = emit_once(
        _thread_id(thread), items, critical=critical, idempotency_key=idempotency_key
    )
    return events


aemit = database_sync_to_async(emit)
aemit_many = database_sync_to_async(emit_many)


def emit_once(
    thread_id: uuid.UUID,
    items: Sequence[EventSpec],
    *,
    critical: append.Critical,
    idempotency_key: str | None,
) -> tuple[list[Event], bool]:
    """`emit_many` that also says whether this call created the events: False when
    `idempotency_key` had created them before (nothing is sent again)."""
    specs = append.validated(items)
    began = time.perf_counter()
    try:
        if idempotency_key is None and connection.get_autocommit():
            # The hot path: one statement is one transaction and one round trip.
            events, created = append.insert_events(thread_id, specs, critical), True
            publisher.enqueue(thread_id, events)
        else:
            with transaction.atomic():
                events, created = append.commit_events(thread_id, specs, critical, idempotency_key)
                if created:
                    transaction.on_commit(partial(publisher.enqueue, thread_id, events))
    except DatabaseError as exc:
        logger.error("ledger write failed for thread %s: %s", thread_id, exc)
        # The database's own words stay in the log: the message may reach a client.
        raise LedgerWriteFailed("the ledger could not record the event") from exc
    if created:
        metrics.emit_duration.observe(time.perf_counter() - began)
        metrics.events_emitted.inc(len(events))
    return events, created


def _thread_id(thread: ThreadRef) -> uuid.UUID:
    if isinstance(thread, Thread):
        return thread.id
    try:
        return thread if isinstance(thread, uuid.UUID) else uuid.UUID(str(thread))
    except ValueError:
        raise ThreadNotFound(f"{thread!r} is not a thread id") from None


def record_page_delivery(*, thread: Thread, first: int, last: int) -> None:
    """Events rendered into a page on the server reached the user as a poll's would: record
    the send, so the client's ack of them is accepted (and the console shows when)."""
    first = max(first, thread.acked_seq + 1)
    if first > last:
        return
    send = GroupSend(thread.id, first, last, Outcome.SENT)
    record_group_sends(trigger=Trigger.POLL, detail="rendered in the thread page", sends=[send])


def publish(
    *,
    api_key: ApiKey,
    thread_id: uuid.UUID,
    items: Sequence[EventSpec],
    critical: append.Critical = True,
    idempotency_key: str | None = None,
) -> tuple[list[Event], bool]:
    """Emit events for a service's key, attributed to it (`Publication`). A repeated
    `idempotency_key` of the same key returns the first call's events, with created False.
    Raises `IdempotencyConflict` when the key comes back with other events, another number of
    them or another thread; nothing is emitted then."""
    if idempotency_key and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidEvent(f"an idempotency key is at most {MAX_IDEMPOTENCY_KEY} characters")
    if idempotency_key and not storable(idempotency_key):
        raise unstorable(InvalidEvent, "the idempotency key")
    key = f"api:{api_key.pk}:{idempotency_key}" if idempotency_key else None
    conflict = IdempotencyConflict(f"idempotency key {idempotency_key!r} was used for other events")
    try:
        with transaction.atomic():  # a conflict's rollback takes the new events and their send
            events, created = emit_once(thread_id, items, critical=critical, idempotency_key=key)
            if created:
                Publication.objects.create(
                    api_key=api_key,
                    thread_id=thread_id,
                    first_seq=events[0].seq,
                    last_seq=events[-1].seq,
                    idempotency_key=idempotency_key or "",
                )
    except (
        IntegrityError
    ) as exc:  # the key already made a publication: other events, count or thread
        raise conflict from exc
    return events, created


MAX_IDEMPOTENCY_KEY = 200  # Publication.idempotency_key's length


def create_thread(*, owner: User, title: str = "") -> Thread:
    """A new thread of `owner`'s. Raises `InvalidEvent` for a title the ledger cannot store."""
    if not storable(title):
        raise unstorable(InvalidEvent, "the title")
    return Thread.objects.create(owner=owner, title=title[:200])


def post_message(*, thread: Thread, text: str, client_id: str) -> tuple[Event, bool]:
    """Record the user's turn once per `client_id`; a resend returns the first event.
    Raises `RateLimited` past the owner's MESSAGES_PER_MINUTE, whatever the transport."""
    key = f"message:{client_id}"
    if not append.already_emitted(thread, key):  # a resend of a posted message costs nothing
        budgets.take_message(user_id=thread.owner_id)
    events, created = emit_once(
        thread.id,
        [(EventType.USER_MESSAGE, {"text": text, "client_id": client_id})],
        critical=True,
        idempotency_key=key,
    )
    if created:
        for receiver, result in signals.message_posted.send_robust(
            sender=Thread, thread=thread, event=events[0]
        ):
            if isinstance(result, Exception):
                logger.error(
                    "message_posted receiver %r failed for event %s: %s",
                    receiver,
                    events[0].event_id,
                    result,
                    exc_info=result,
                )
    return events[0], created
