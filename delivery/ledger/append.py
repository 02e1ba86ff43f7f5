"""The ledger's one write per event: seqs allocated and rows inserted in one statement.

`delivery.ledger.services` is the door: it validates, calls `insert_events` or
`commit_events`, and hands what was committed to the fast path.
"""

import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from delivery import conf
from delivery.exceptions import IdempotencyConflict, InvalidEvent, ThreadNotFound
from delivery.ledger.statements import execute_bound
from delivery.models import Event, Thread
from delivery.text import payload_storable, unstorable

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
EventSpec = tuple[str, dict[str, Any] | None]
Spec = tuple[str, dict[str, Any], str]  # a validated event: type, payload, payload as JSON
Critical = bool | Sequence[bool]  # one flag for every event, or one per event


def commit_events(
    thread_id: uuid.UUID,
    specs: list[Spec],
    critical: Critical,
    idempotency_key: str | None,
) -> tuple[list[Event], bool]:
    if idempotency_key is not None:
        ids = event_ids(thread_id, idempotency_key, len(specs)) or []
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
            wanted = [
                (type, json.loads(encoded), flag)
                for (type, _, encoded), flag in zip(specs, flags(critical, len(specs)), strict=True)
            ]
            if [(e.type, e.payload, e.critical) for e in existing] != wanted:
                raise IdempotencyConflict(
                    f"idempotency key {idempotency_key!r} was used for other events"
                )
            return existing, False
    return insert_events(thread_id, specs, critical, idempotency_key), True


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
       item.type, item.payload::jsonb, item.critical, allocated.at
  FROM allocated,
       unnest(%(ids)s::uuid[], %(types)s::text[], %(payloads)s::text[], %(critical)s::boolean[])
           WITH ORDINALITY AS item(key_id, type, payload, critical, ord)
RETURNING seq, event_id, created_at
"""
# Field order for `Event.from_db`, which builds instances without Model.__init__'s kwargs path.
EVENT_FIELDS = [f.attname for f in Event._meta.concrete_fields]


def insert_events(
    thread_id: uuid.UUID,
    specs: list[Spec],
    critical: Critical,
    idempotency_key: str | None = None,
) -> list[Event]:
    critical = flags(critical, len(specs))
    params: dict[str, Any] = {
        "thread": thread_id,
        "count": len(specs),
        "critical": critical,
        # Keyed events get derived ids; the others get theirs from PostgreSQL.
        "ids": event_ids(thread_id, idempotency_key, len(specs)),
        "types": [type for type, _, _ in specs],
        "payloads": [encoded for _, _, encoded in specs],
    }
    rows = sorted(execute_bound(INSERT_SQL, params))
    if not rows:
        raise ThreadNotFound(f"thread {thread_id} does not exist")
    return [
        Event.from_db(connection.alias, EVENT_FIELDS, _row(thread_id, seq, event_id, created_at,
                                                           spec, flag))
        for (seq, event_id, created_at), spec, flag in zip(rows, specs, critical, strict=True)
    ]  # fmt: skip


def _row(thread_id: uuid.UUID, seq: int, event_id: uuid.UUID, created_at: datetime, spec: Spec,
         critical: bool) -> list[Any]:  # fmt: skip
    type, payload, _ = spec
    values = {"event_id": event_id, "thread_id": thread_id, "seq": seq, "type": type,
              "payload": payload, "critical": critical, "created_at": created_at}  # fmt: skip
    return [values[name] for name in EVENT_FIELDS]


def flags(critical: Critical, count: int) -> list[bool]:
    if isinstance(critical, bool):
        return [critical] * count
    if len(critical) != count:
        raise InvalidEvent(f"{len(critical)} critical flags for {count} events")
    return [bool(flag) for flag in critical]


def already_emitted(thread: Thread, key: str) -> bool:
    """Whether `key` (an idempotency key for one event) already created its event."""
    ids = event_ids(thread.id, key, 1) or []
    return Event.objects.filter(
        thread_id=thread.id, event_id__in=ids, created_at__gte=thread.created_at
    ).exists()


def event_ids(thread_id: uuid.UUID, key: str | None, count: int) -> list[uuid.UUID] | None:
    if key is None:
        return None
    # The length prefix keeps ("a#1", item 0) and ("a", item 1) apart; the count is part of it,
    # so a repeat with another number of events is caught as a different call.
    return [uuid.uuid5(thread_id, f"{len(key)}:{key}:{count}:{i}") for i in range(count)]


def validated(items: Sequence[EventSpec]) -> list[Spec]:
    if not items:
        raise InvalidEvent("emit_many needs at least one event")
    max_bytes = conf.current().max_payload_bytes
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
        if not payload_storable(payload, encoded):
            raise unstorable(InvalidEvent, f"payload of {type!r}")
        specs.append((str(type), payload, encoded))  # a StrEnum member is stored as its value
    return specs
