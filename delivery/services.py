"""Writes to the ledger. `emit` and `emit_many` are the one public way to send an event."""

import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.dispatch import Signal

from delivery import conf, metrics
from delivery.connections import GroupSend, record_group_sends
from delivery.exceptions import InvalidEvent, LedgerWriteFailed, ThreadNotFound
from delivery.models import Event, Outcome, Thread, Trigger
from delivery.publisher import publisher
from delivery.statements import execute_bound

logger = logging.getLogger(__name__)

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
USER_MESSAGE = "user_message"

message_posted = Signal()
"""Sent after a user's message is committed for the first time (not on an idempotent repeat).
Receivers get `thread` and `event`; the agent that answers connects here."""

ThreadRef = Thread | uuid.UUID | str
EventSpec = tuple[str, dict[str, Any] | None]
Spec = tuple[str, dict[str, Any], str]  # a validated event: type, payload, payload as JSON


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
    events, _ = _emit(_thread_id(thread), items, critical=critical, idempotency_key=idempotency_key)
    return events


aemit = database_sync_to_async(emit)
aemit_many = database_sync_to_async(emit_many)


def _emit(
    thread_id: uuid.UUID,
    items: Sequence[EventSpec],
    *,
    critical: bool,
    idempotency_key: str | None,
) -> tuple[list[Event], bool]:
    specs = _validated(items)
    began = time.perf_counter()
    try:
        if idempotency_key is None and connection.get_autocommit():
            # The hot path: one statement is one transaction and one round trip.
            events, created = _insert(thread_id, specs, critical), True
            publisher.enqueue(thread_id, events)
        else:
            with transaction.atomic():
                events, created = _commit(thread_id, specs, critical, idempotency_key)
                if created:
                    transaction.on_commit(partial(publisher.enqueue, thread_id, events))
    except DatabaseError as exc:
        logger.error("ledger write failed for thread %s: %s", thread_id, exc)
        raise LedgerWriteFailed(f"ledger write failed: {exc}") from exc
    if created:
        metrics.emit_duration.observe(time.perf_counter() - began)
        metrics.events_emitted.inc(len(events))
    return events, created


def _commit(
    thread_id: uuid.UUID,
    specs: list[Spec],
    critical: bool,
    idempotency_key: str | None,
) -> tuple[list[Event], bool]:
    if idempotency_key is not None:
        ids = _event_ids(thread_id, idempotency_key, len(specs)) or []
        # The row lock serialises repeats of one key, so the lookup below cannot race.
        since = (
            Thread.objects.select_for_update()
            .filter(pk=thread_id)
            .values_list("created_at", flat=True)
            .first()
        )
        if since is None:
            raise ThreadNotFound(f"thread {thread_id} does not exist")
        existing = list(
            Event.objects.filter(
                thread_id=thread_id, event_id__in=ids, created_at__gte=since
            ).order_by("seq")
        )
        if existing:
            if [e.type for e in existing] != [type for type, _, _ in specs]:
                raise InvalidEvent(f"idempotency_key {idempotency_key!r} was used for other events")
            return existing, False
    return _insert(thread_id, specs, critical, idempotency_key), True


# Seq allocation and the rows in one statement. The UPDATE takes the thread's row lock until
# commit, so commit order equals seq order within a thread; the clock is read with the lock
# held, so `created_at` rises with seq too, and dropping the oldest day's partition removes a
# prefix of every thread. Nothing else is written per event: delivery is recorded as
# watermarks and ranges (delivery/models/records.py).
INSERT_SQL = """
WITH allocated AS (
    UPDATE delivery_thread
       SET last_seq = last_seq + %(count)s, last_event_at = clock_timestamp()
     WHERE id = %(thread)s
    RETURNING last_seq - %(count)s AS base, last_event_at AS at
)
INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at)
SELECT %(thread)s, allocated.base + item.ord, COALESCE(item.key_id, gen_random_uuid()),
       item.type, item.payload::jsonb, %(critical)s, allocated.at
  FROM allocated,
       unnest(%(ids)s::uuid[], %(types)s::text[], %(payloads)s::text[])
           WITH ORDINALITY AS item(key_id, type, payload, ord)
RETURNING seq, event_id, created_at
"""
# Field order for `Event.from_db`, which builds instances without Model.__init__'s kwargs path.
EVENT_FIELDS = [f.attname for f in Event._meta.concrete_fields]


def _insert(
    thread_id: uuid.UUID,
    specs: list[Spec],
    critical: bool,
    idempotency_key: str | None = None,
) -> list[Event]:
    params: dict[str, Any] = {
        "thread": thread_id,
        "count": len(specs),
        "critical": critical,
        # Keyed events get derived ids; the others get theirs from PostgreSQL.
        "ids": _event_ids(thread_id, idempotency_key, len(specs)),
        "types": [type for type, _, _ in specs],
        "payloads": [encoded for _, _, encoded in specs],
    }
    rows = sorted(execute_bound(INSERT_SQL, params))
    if not rows:
        raise ThreadNotFound(f"thread {thread_id} does not exist")
    return [
        Event.from_db(connection.alias, EVENT_FIELDS, _row(thread_id, seq, event_id, created_at,
                                                           spec, critical))
        for (seq, event_id, created_at), spec in zip(rows, specs, strict=True)
    ]  # fmt: skip


def _row(thread_id: uuid.UUID, seq: int, event_id: uuid.UUID, created_at: datetime, spec: Spec,
         critical: bool) -> list[Any]:  # fmt: skip
    type, payload, _ = spec
    values = {"event_id": event_id, "thread_id": thread_id, "seq": seq, "type": type,
              "payload": payload, "critical": critical, "created_at": created_at}  # fmt: skip
    return [values[name] for name in EVENT_FIELDS]


def _event_ids(thread_id: uuid.UUID, key: str | None, count: int) -> list[uuid.UUID] | None:
    if key is None:
        return None
    # The length prefix keeps ("a#1", item 0) and ("a", item 1) apart; the count is part of it,
    # so a repeat with another number of events is caught as a different call.
    return [uuid.uuid5(thread_id, f"{len(key)}:{key}:{count}:{i}") for i in range(count)]


def _validated(items: Sequence[EventSpec]) -> list[Spec]:
    if not items:
        raise InvalidEvent("emit_many needs at least one event")
    max_bytes = conf.limit("MAX_PAYLOAD_BYTES")
    specs = []
    for item in items:
        type, payload = item
        if not isinstance(type, str) or not EVENT_TYPE_RE.match(type):
            raise InvalidEvent(f"event type {type!r} must match {EVENT_TYPE_RE.pattern}")
        payload = {} if payload is None else payload
        if not isinstance(payload, dict):
            raise InvalidEvent(
                f"payload of {type!r} must be a dict, not {payload.__class__.__name__}"
            )
        try:
            encoded = json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidEvent(f"payload of {type!r} is not JSON: {exc}") from exc
        if len(encoded) > max_bytes:
            raise InvalidEvent(
                f"payload of {type!r} is {len(encoded)} bytes; the limit is {max_bytes}"
            )
        specs.append((type, payload, encoded))
    return specs


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


def create_thread(*, owner: User, title: str = "") -> Thread:
    return Thread.objects.create(owner=owner, title=title[:200])


def post_message(*, thread: Thread, text: str, client_id: str) -> tuple[Event, bool]:
    """Record the user's turn once per `client_id`; a resend returns the first event."""
    events, created = _emit(
        thread.id,
        [(USER_MESSAGE, {"text": text, "client_id": client_id})],
        critical=True,
        idempotency_key=f"message:{client_id}",
    )
    if created:
        for receiver, result in message_posted.send_robust(
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
