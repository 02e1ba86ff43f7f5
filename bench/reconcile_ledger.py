"""The ledger the reconciler benchmark sweeps: grown in SQL, with a fixed set of due events.

Shape: threads of EVENTS_PER_THREAD events (`agent_started`, steps, `agent_completed`: every
run finished), all acked, each thread with one closed Connection row of history. Thread g was
created g * 30 s ago, so the ledger reaches back in time as it grows, like seed_bench's.

The unacked set is UNACKED events at a time, one per thread: the last event of 1,000 threads
spread evenly over the whole ledger, sent once a minute ago to a live socket and never acked
(the thread's acked watermark stops one short), so each is past its ack deadline and within
its retry budget. Each of those threads has a live Connection row with a fresh heartbeat and
one channel in its group on the private Redis, so the reconciler's resend is a real
`group_send` that lands in a channel, and a real attempt row. Between passes the pass's retry
rows are removed, which puts the set back in the due state.
"""

import asyncio
import os
import uuid
from datetime import timedelta

import redis
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from delivery.ledger import partitions

EVENTS_PER_THREAD = 10
USERS = 100

USERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT '!', false, 'recon' || g, '', '', '', false, true, now()
  FROM generate_series(1, %(users)s) g
"""
# One statement per growth step: the threads, their events, one live send and one ack range
# each, and a closed connection of history.
GROW_SQL = """
WITH owners AS (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user
                 WHERE username LIKE 'recon%%'),
t AS (
  INSERT INTO delivery_thread (id, owner_id, title, last_seq, acked_seq, created_at,
                               last_event_at)
  SELECT gen_random_uuid(), o.ids[1 + g %% cardinality(o.ids)], 'bench thread ' || g,
         %(events)s, %(events)s, now() - make_interval(secs => g * 30),
         now() - make_interval(secs => g * 30 - %(events)s)
    FROM generate_series(%(first)s, %(last)s) g, owners o
  RETURNING id, owner_id, created_at
),
e AS (
  INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at)
  SELECT t.id, s, gen_random_uuid(),
         CASE s WHEN 1 THEN 'agent_started' WHEN %(events)s THEN 'agent_completed'
                ELSE 'agent_step' END,
         jsonb_build_object('text', 'benchmark event', 'run_id', t.id),
         true, t.created_at + make_interval(secs => s)
    FROM t CROSS JOIN generate_series(1, %(events)s) s
),
a AS (
  INSERT INTO delivery_deliveryattempt (thread_id, trigger, first_seq, last_seq, created_at)
  SELECT t.id, 'live', 1, %(events)s, t.created_at + interval '1 second' FROM t
),
k AS (
  INSERT INTO delivery_ackrange (thread_id, above, upto, acked_at)
  SELECT t.id, 0, %(events)s, t.created_at + interval '1.05 second' FROM t
)
INSERT INTO delivery_connection (id, thread_id, user_id, channel_name, transport, state,
                                 sent_seq, acked_seq, opened_at, last_seen_at, closed_at,
                                 close_code, close_reason, server)
SELECT gen_random_uuid(), t.id, t.owner_id, '', 'websocket', 'closed', %(events)s, %(events)s,
       t.created_at, t.created_at + interval '10 minutes', t.created_at + interval '10 minutes',
       1000, 'client closed', 'bench'
  FROM t
"""
RETIRE_SQL = [
    "UPDATE delivery_thread SET acked_seq = last_seq"
    " WHERE acked_seq < last_seq AND title LIKE 'bench thread %'",
    "UPDATE delivery_connection SET state = 'closed', closed_at = now() WHERE state = 'live'",
]
# Every step-th thread by age: the unacked set is spread over the whole ledger.
PICK_SQL = """
SELECT t.id, t.owner_id FROM (
  SELECT id, owner_id, row_number() OVER (ORDER BY created_at) AS rn FROM delivery_thread
   WHERE title LIKE 'bench thread %%') t
 WHERE t.rn %% %(step)s = 0 ORDER BY t.rn LIMIT %(unacked)s
"""
CONNECT_SQL = """
WITH c AS (
  INSERT INTO delivery_connection (id, thread_id, user_id, channel_name, transport, state,
                                   resumed_from, sent_seq, acked_seq, opened_at, last_seen_at,
                                   close_reason, server)
  SELECT gen_random_uuid(), t, u, ch, 'websocket', 'live', %(acked)s, %(events)s, %(acked)s,
         now(), now(), '', 'bench'
    FROM unnest(%(threads)s::uuid[], %(users)s::int[], %(channels)s::text[]) AS x(t, u, ch)
  RETURNING id, thread_id
)
INSERT INTO delivery_deliveryattempt (thread_id, connection_id, trigger, first_seq, last_seq,
                                      created_at)
SELECT thread_id, id, 'live', %(events)s, %(events)s, now() - interval '1 minute' FROM c
"""
# The due state: the last event unacked, its send a minute old, no retry since, and no
# reconciler bookmark saying when to look next.
DUE_SQL = [
    "UPDATE delivery_thread SET acked_seq = last_seq - 1, reconcile_after = NULL,"
    " reconciled_at = NULL WHERE id = ANY(%(threads)s)",
    "DELETE FROM delivery_deliveryattempt WHERE thread_id = ANY(%(threads)s) AND trigger = 'retry'",
]
HEARTBEAT_SQL = "UPDATE delivery_connection SET last_seen_at = now() WHERE state = 'live'"


class BenchLedger:
    """A growing benchmark ledger and its current set of due events."""

    def __init__(self) -> None:
        self.threads = 0
        self.due_threads: list[uuid.UUID] = []
        self.channels: list[str] = []
        with connection.cursor() as cursor:
            cursor.execute(USERS_SQL, {"users": USERS})

    @property
    def events(self) -> int:
        return self.threads * EVENTS_PER_THREAD

    def grow_to(self, events: int) -> None:
        """Add threads (and their events) until the ledger holds `events` events, then analyze."""
        target = events // EVENTS_PER_THREAD
        params = {"first": self.threads + 1, "last": target, "events": EVENTS_PER_THREAD}
        oldest = timezone.now() - timedelta(seconds=30 * target)
        partitions.ensure_partitions(since=oldest.date())
        with connection.cursor() as cursor:
            cursor.execute(GROW_SQL, params)
            self.threads = target
            cursor.execute(
                "VACUUM ANALYZE delivery_thread, delivery_event, delivery_connection,"
                " delivery_deliveryattempt, delivery_ackrange"
            )

    def choose_unacked(self, count: int) -> None:
        """Retire the previous unacked set; give `count` threads spread over the ledger a live
        client and one due event each."""
        with connection.cursor() as cursor:
            for sql in RETIRE_SQL:
                cursor.execute(sql)
            step = max(1, self.threads // count)
            cursor.execute(PICK_SQL, {"step": step, "unacked": count})
            rows = cursor.fetchall()
        self.due_threads = [thread_id for thread_id, _ in rows]
        self.channels = async_to_sync(_join_groups)(self.due_threads)
        with connection.cursor() as cursor:
            cursor.execute(
                CONNECT_SQL,
                {
                    "threads": self.due_threads,
                    "users": [owner for _, owner in rows],
                    "channels": self.channels,
                    "acked": EVENTS_PER_THREAD - 1,
                    "events": EVENTS_PER_THREAD,
                },
            )
        self.make_due()
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM ANALYZE delivery_thread, delivery_connection, delivery_deliveryattempt"
            )

    def make_due(self) -> None:
        """Put the unacked set back in the due state, and keep its clients' heartbeats fresh."""
        with connection.cursor() as cursor:
            for sql in DUE_SQL:
                cursor.execute(sql, {"threads": self.due_threads})
            cursor.execute(HEARTBEAT_SQL)
            # The reset deletes the last pass's retry rows, which the ledger never does:
            # vacuum them away, or the next pass wades through their dead index entries.
            cursor.execute("VACUUM delivery_deliveryattempt, delivery_thread")

    def resent(self) -> int:
        """How many of the unacked set the last pass resent: group sends recorded as taken."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(DISTINCT thread_id) FROM delivery_deliveryattempt"
                " WHERE thread_id = ANY(%s) AND trigger = 'retry' AND outcome = 'sent'",
                [self.due_threads],
            )
            return cursor.fetchone()[0]

    def drain(self) -> int:
        """Take what the passes sent out of the clients' channels; returns how many messages.

        Like one daphne process, every client channel shares one Redis key; emptying it keeps
        the channels far from `capacity` however many passes run.
        """
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        key = layer.prefix + layer.non_local_name(self.channels[0])  # type: ignore[union-attr]
        with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
            count, _ = client.pipeline().zcard(key).delete(key).execute()
        return int(count)


async def _join_groups(threads: list[uuid.UUID]) -> list[str]:
    from channels.layers import get_channel_layer

    from delivery.fastpath.frames import group_name

    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in threads]
    pairs = list(zip(threads, channels, strict=True))
    # The layer's pool refuses more than 100 connections in flight: join in slices.
    for start in range(0, len(pairs), 50):
        await asyncio.gather(
            *(layer.group_add(group_name(t), c) for t, c in pairs[start : start + 50])
        )
    return channels
