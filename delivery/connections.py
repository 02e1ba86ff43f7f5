"""Writes for a client's connection: its row, its batched acks and its out-of-band sends."""

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection as db
from django.utils import timezone

from delivery import metrics
from delivery.models import Connection, ConnectionState, DeliveryAttempt

SERVER_NAME = socket.gethostname()[:60]


def open_connection(
    *,
    thread_id: uuid.UUID,
    user_id: int,
    channel_name: str,
    resumed_from: int | None,
    transport: str = "websocket",
) -> Connection:
    return Connection.objects.create(
        thread_id=thread_id,
        user_id=user_id,
        channel_name=channel_name,
        resumed_from=resumed_from,
        transport=transport,
        server=f"{SERVER_NAME}:{os.getpid()}",
    )


def touch_connections(*, connection_ids: Sequence[uuid.UUID]) -> None:
    """Record sockets' heartbeats, one statement for many (delivery/heartbeats.py); the
    reconciler marks live rows with stale heartbeats dead."""
    Connection.objects.filter(pk__in=connection_ids, state=ConnectionState.LIVE).update(
        last_seen_at=timezone.now()
    )


def close_connection(
    *, connection_id: uuid.UUID, code: int | None, reason: str = "", dead: bool = False
) -> None:
    Connection.objects.filter(pk=connection_id, state=ConnectionState.LIVE).update(
        state=ConnectionState.DEAD if dead else ConnectionState.CLOSED,
        closed_at=timezone.now(),
        close_code=code,
        close_reason=reason[:200],
    )


class Ack(NamedTuple):
    """A socket's cumulative ack: every event of the thread with `above < seq <= upto`."""

    thread_id: uuid.UUID
    connection_id: uuid.UUID | None
    above: int
    upto: int
    at: datetime  # when the client's ack arrived


ACKS_SQL = """
WITH batch AS (
    SELECT * FROM unnest(%(threads)s::uuid[], %(connections)s::uuid[], %(above)s::bigint[],
                         %(upto)s::bigint[], %(at)s::timestamptz[])
        AS b(thread_id, connection_id, above, upto, at)
), acked AS (
    UPDATE delivery_event e SET state = 'acked', acked_at = b.at
      FROM batch b
     WHERE e.thread_id = b.thread_id AND e.seq > b.above AND e.seq <= b.upto
       AND e.state <> 'acked'
    RETURNING e.critical, EXTRACT(EPOCH FROM (b.at - e.created_at))
), seen AS (
    UPDATE delivery_connection c SET acked_seq = b.upto, last_seen_at = b.at
      FROM batch b
     WHERE c.id = b.connection_id AND c.acked_seq < b.upto
)
SELECT * FROM acked
"""


def record_ack(
    *,
    thread_id: uuid.UUID,
    upto: int,
    above: int = 0,
    connection_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> int:
    """Mark every event with `above < seq <= upto` acked (and the connection's ack position).

    Acks are cumulative, so `above` (the last ack already recorded) bounds the scan. `at` is
    when the client's ack arrived (default: now). Returns how many events changed state.
    """
    return record_acks([Ack(thread_id, connection_id, above, upto, at or timezone.now())])


def record_acks(acks: Sequence[Ack]) -> int:
    """Many sockets' acks in one statement, one round trip, atomic on its own
    (delivery/pacing.py writes every socket's new acks together once per flush interval)."""
    params: dict[str, Any] = {
        "threads": [ack.thread_id for ack in acks],
        "connections": [ack.connection_id for ack in acks],
        "above": [ack.above for ack in acks],
        "upto": [ack.upto for ack in acks],
        "at": [ack.at for ack in acks],
    }
    with db.cursor() as cursor:
        cursor.execute(ACKS_SQL, params)
        rows = cursor.fetchall()
    for critical, seconds in rows:
        if critical:
            metrics.delivery_time.observe(float(seconds))
    metrics.events_acked.inc(len(rows))
    return len(rows)


def record_attempt(
    *,
    thread_id: uuid.UUID,
    connection_id: uuid.UUID | None,
    trigger: str,
    from_seq: int,
    to_seq: int,
    event_count: int,
    detail: str = "",
) -> None:
    """One row per batch sent outside the plain live path (resume, heal, retry, replay)."""
    DeliveryAttempt.objects.create(
        thread_id=thread_id,
        connection_id=connection_id,
        trigger=trigger,
        from_seq=from_seq,
        to_seq=to_seq,
        event_count=event_count,
        detail=detail[:200],
    )


ATTEMPTS_SQL = """
    INSERT INTO delivery_deliveryattempt
           (thread_id, connection_id, trigger, from_seq, to_seq, event_count, created_at, detail)
    SELECT thread_id, NULL, %s, from_seq, to_seq, event_count, %s, %s
      FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::integer[])
           AS batch(thread_id, from_seq, to_seq, event_count)"""


def record_attempts(
    *, trigger: str, detail: str, ranges: Sequence[tuple[uuid.UUID, int, int, int]]
) -> None:
    """`record_attempt` for many threads' batches (thread, from_seq, to_seq, event_count),
    none of them on one connection, in one INSERT."""
    columns = [list(column) for column in zip(*ranges, strict=True)]
    with db.cursor() as cursor:
        cursor.execute(ATTEMPTS_SQL, [trigger, timezone.now(), detail[:200], *columns])
