"""Writes for a client's connection: its row, its watermarks, and the ranges it was sent and
acknowledged (delivery/models/records.py). Nothing here touches an event row."""

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection as db
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from delivery import metrics
from delivery.exceptions import RateLimited
from delivery.fastpath.fanout import GroupSend
from delivery.models import (
    Connection,
    ConnectionState,
    DeliveryAttempt,
    Outcome,
    Transport,
    Trigger,
)

SERVER_NAME = socket.gethostname()[:60]
SOCKETS_LOCK = 1702  # pg_advisory_xact_lock(namespace, user id) around the sockets budget


def open_connection(
    *,
    thread_id: uuid.UUID,
    user_id: int,
    channel_name: str = "",
    resumed_from: int | None,
    transport: str = Transport.WEBSOCKET,
    sockets_limit: int | None = None,
) -> Connection:
    """Record a connection. With `sockets_limit`, a WebSocket is recorded only while the user
    has fewer open (`RateLimited` otherwise): counted and inserted under a per-user advisory
    lock, so handshakes arriving together on several processes cannot all slip under it."""
    with transaction.atomic():
        if sockets_limit is not None:
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SOCKETS_LOCK, user_id])
            if live_sockets(user_id=user_id) >= sockets_limit:
                raise RateLimited(
                    f"over the limit of {sockets_limit} open sockets; close one first",
                    retry_after=1,
                )
        return Connection.objects.create(
            thread_id=thread_id,
            user_id=user_id,
            channel_name=channel_name,
            resumed_from=resumed_from,
            transport=transport,
            server=f"{SERVER_NAME}:{os.getpid()}",
        )


def poll_session(*, thread_id: uuid.UUID, user_id: int, after: int) -> Connection:
    """The thread's live long-poll session, opened on its first poll. A poll keeps it alive
    (`last_seen_at`); the reconciler closes it as dead once polls stop, like a silent socket."""
    session = live_poll_session(thread_id=thread_id)
    if session is None:
        return open_connection(
            thread_id=thread_id, user_id=user_id, resumed_from=after, transport=Transport.LONGPOLL
        )
    touch_connections(connection_ids=[session.pk])
    return session


def presence(*, thread_id: uuid.UUID) -> list[dict[str, Any]]:
    """The thread's live connections: transport, since when, and the last sign of life."""
    live = Connection.objects.filter(thread_id=thread_id, state=ConnectionState.LIVE)
    return [
        {"connection": row.pk, "transport": row.transport, "since": row.opened_at,
         "last_pong": row.last_seen_at}
        for row in live.order_by("opened_at").only("transport", "opened_at", "last_seen_at")
    ]  # fmt: skip


def live_sockets(*, user_id: int) -> int:
    """How many WebSockets of `user_id` are open, on any process (SOCKETS_PER_USER)."""
    return Connection.objects.filter(
        user_id=user_id, state=ConnectionState.LIVE, transport=Transport.WEBSOCKET
    ).count()


def live_poll_session(*, thread_id: uuid.UUID) -> Connection | None:
    """The thread's open long-poll session, if a poll opened one."""
    return (
        Connection.objects.filter(
            thread_id=thread_id, state=ConnectionState.LIVE, transport=Transport.LONGPOLL
        )
        .order_by("-opened_at")
        .first()
    )


def touch_connections(*, connection_ids: Sequence[uuid.UUID]) -> None:
    """Record sockets' heartbeats, one statement for many (delivery/wire/heartbeats.py); the
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


def sent_watermark(*, thread_id: uuid.UUID) -> int:
    """The highest seq the thread's owner was sent, as the ledger has it: by a socket, a poll,
    a page, or a message to the thread's group. An ack above it is refused (`ack_beyond_sent`)."""
    attempts = DeliveryAttempt.objects.filter(thread_id=thread_id, outcome=Outcome.SENT)
    connections = Connection.objects.filter(thread_id=thread_id)
    return max(
        attempts.aggregate(sent=Max("last_seq"))["sent"] or 0,
        connections.aggregate(sent=Max("sent_seq"))["sent"] or 0,
    )


class SentRange(NamedTuple):
    """Frames `first..last` written to one connection for one trigger, from `at`."""

    trigger: str
    first: int
    last: int
    at: datetime


class Progress(NamedTuple):
    """What one connection did since its last write: the ranges it sent, its sent watermark,
    and its client's cumulative ack (0 when none is new) with the time the ack arrived."""

    thread_id: uuid.UUID
    connection_id: uuid.UUID | None  # None: an HTTP ack outside any poll session
    sent: Sequence[SentRange]
    sent_seq: int
    acked_seq: int
    acked_at: datetime


# One statement for every connection's progress: the attempt rows, the connections'
# watermarks, the threads' ack watermarks and an AckRange for each move. Thread rows are locked
# in id order, so two daphne processes writing together wait instead of deadlocking; `held`
# reads each thread's watermark after its lock, so ranges of one thread never overlap.
PROGRESS_SQL = """
WITH sends AS (
    INSERT INTO delivery_deliveryattempt
           (thread_id, connection_id, trigger, first_seq, last_seq, outcome, created_at)
    SELECT s.thread_id, s.connection_id, s.trigger, s.first_seq, s.last_seq, 'sent', s.at
      FROM unnest(%(s_threads)s::uuid[], %(s_connections)s::uuid[], %(s_triggers)s::text[],
                  %(s_first)s::bigint[], %(s_last)s::bigint[], %(s_at)s::timestamptz[])
           AS s(thread_id, connection_id, trigger, first_seq, last_seq, at)
), marks AS (
    SELECT * FROM unnest(%(threads)s::uuid[], %(connections)s::uuid[], %(sent)s::bigint[],
                         %(acked)s::bigint[], %(at)s::timestamptz[])
        AS m(thread_id, connection_id, sent_seq, acked_seq, acked_at)
), watermarks AS (
    UPDATE delivery_connection c
       SET sent_seq = GREATEST(c.sent_seq, m.sent_seq),
           acked_seq = GREATEST(c.acked_seq, m.acked_seq)
      FROM marks m
     WHERE c.id = m.connection_id AND (c.sent_seq < m.sent_seq OR c.acked_seq < m.acked_seq)
), best AS (
    SELECT DISTINCT ON (thread_id) thread_id, connection_id, acked_seq, acked_at
      FROM marks WHERE acked_seq > 0 ORDER BY thread_id, acked_seq DESC, acked_at
), held AS (
    SELECT t.id, t.acked_seq AS above, t.created_at AS since, t.last_event_at AS until
      FROM delivery_thread t JOIN best b ON b.thread_id = t.id
     WHERE t.acked_seq < b.acked_seq
     ORDER BY t.id FOR NO KEY UPDATE OF t
), moved AS (
    UPDATE delivery_thread t SET acked_seq = b.acked_seq
      FROM best b JOIN held h ON h.id = b.thread_id
     WHERE t.id = b.thread_id AND t.acked_seq < b.acked_seq
 RETURNING t.id AS thread_id, h.above, b.acked_seq AS upto, b.connection_id, b.acked_at,
           h.since, h.until
), ranges AS (
    INSERT INTO delivery_ackrange (thread_id, connection_id, above, upto, acked_at)
    SELECT thread_id, connection_id, above, upto, acked_at FROM moved
)
SELECT m.upto - m.above,
       ARRAY(SELECT EXTRACT(EPOCH FROM (m.acked_at - e.created_at))::float8
               FROM delivery_event e
              WHERE e.thread_id = m.thread_id AND e.seq > m.above AND e.seq <= m.upto
                AND e.created_at BETWEEN m.since AND m.until AND e.critical)
  FROM moved m
"""


def record_progress(progress: Sequence[Progress]) -> int:
    """Write many connections' progress in one statement (one round trip, atomic on its own).
    Returns how many events became acknowledged on their thread."""
    if not progress:
        return 0
    sends = [(p, s) for p in progress for s in p.sent]
    params: dict[str, Any] = {
        "s_threads": [p.thread_id for p, _ in sends],
        "s_connections": [p.connection_id for p, _ in sends],
        "s_triggers": [s.trigger for _, s in sends],
        "s_first": [s.first for _, s in sends],
        "s_last": [s.last for _, s in sends],
        "s_at": [s.at for _, s in sends],
        "threads": [p.thread_id for p in progress],
        "connections": [p.connection_id for p in progress],
        "sent": [p.sent_seq for p in progress],
        "acked": [p.acked_seq for p in progress],
        "at": [p.acked_at for p in progress],
    }
    with db.cursor() as cursor:
        cursor.execute(PROGRESS_SQL, params)
        moves = cursor.fetchall()
    acked = 0
    for count, seconds in moves:
        acked += count
        for value in seconds:
            metrics.delivery_time.observe(value)
    metrics.events_acked.inc(acked)
    return acked


def record_poll(*, thread_id: uuid.UUID, session: uuid.UUID, seqs: Sequence[int]) -> None:
    """A poll that returned events is a send like any other: one attempt row per run of
    consecutive seqs (trigger `poll`) and the session's sent watermark, in one statement."""
    now = timezone.now()
    runs: list[SentRange] = []
    for seq in seqs:
        if runs and runs[-1].last + 1 == seq:
            runs[-1] = runs[-1]._replace(last=seq)
        else:
            runs.append(SentRange(Trigger.POLL, seq, seq, now))
    record_progress([Progress(thread_id, session, runs, seqs[-1], 0, now)])


GROUP_ATTEMPTS_SQL = """
    INSERT INTO delivery_deliveryattempt
           (thread_id, connection_id, trigger, first_seq, last_seq, outcome, created_at, detail)
    SELECT thread_id, NULL, %s, first_seq, last_seq, outcome, %s, %s
      FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::text[])
           AS batch(thread_id, first_seq, last_seq, outcome)"""


def record_group_sends(
    *, trigger: str, detail: str, sends: Sequence[GroupSend], at: datetime | None = None
) -> None:
    """One attempt row per group message, none on one connection, in one INSERT. The sockets
    that wrote its frames record their own rows (`record_progress`). `at` is when the message
    went out (default now), so it sorts before the frames it caused."""
    if not sends:
        return
    columns = [list(column) for column in zip(*sends, strict=True)]
    with db.cursor() as cursor:
        cursor.execute(GROUP_ATTEMPTS_SQL, [trigger, at or timezone.now(), detail[:200], *columns])
