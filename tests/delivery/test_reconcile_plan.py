"""The reconciler's reads follow the live, unacknowledged work, not the ledger's size."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from delivery.ledger import partitions
from delivery.models import Connection
from delivery.repair.reconcile import ATTEMPTS_SQL, CANDIDATES_SQL, STATE_SQL, reconcile
from tests.ledger import sent

pytestmark = pytest.mark.django_db

LEDGER_ROWS = 120_000
UNACKED = 10


@pytest.fixture
def big_ledger(thread, user):
    """120k events, all but the last 10 acked, bulk-inserted in SQL, with a live socket that
    was sent everything a while ago."""
    partitions.ensure_partitions(since=(timezone.now() - timedelta(days=1)).date())
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical,
                                        created_at)
            SELECT %s, g, gen_random_uuid(), 'step', '{}'::jsonb, true, now() - interval '1 hour'
              FROM generate_series(1, %s) g
            """,
            [thread.id, LEDGER_ROWS],
        )
        cursor.execute(
            "UPDATE delivery_thread SET last_seq = %s, acked_seq = %s,"
            " created_at = now() - interval '2 hours', last_event_at = now() - interval '1 hour'"
            " WHERE id = %s",
            [LEDGER_ROWS, LEDGER_ROWS - UNACKED, thread.id],
        )
        # Other threads' sends: the attempts table is big too.
        cursor.execute(
            """
            INSERT INTO delivery_deliveryattempt (thread_id, trigger, first_seq, last_seq,
                                                  created_at)
            SELECT gen_random_uuid(), 'live', g, g, now() - interval '1 hour'
              FROM generate_series(1, %s) g
            """,
            [LEDGER_ROWS // 4],
        )
    socket = Connection.objects.create(thread=thread, user=user, sent_seq=LEDGER_ROWS)
    sent(thread, 1, LEDGER_ROWS, connection=socket, at=timezone.now() - timedelta(hours=1))
    with connection.cursor() as cursor:
        for table in ("delivery_event", "delivery_connection", "delivery_deliveryattempt"):
            cursor.execute(f"ANALYZE {table}")
    return thread


def _plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


SMALL_SCAN = 1000.0  # a partition holding a few rows: scanning it is the planner's best choice


def _scans(plan: str, table: str) -> list[str]:
    """Sequential scans of `table`'s partitions that cost anything. An empty or nearly empty
    partition's scan is cheap and rightly picked: near midnight UTC a thread's span reaches
    into the new day's partition, which holds only a few rows of other tests."""
    return [
        line
        for line in plan.splitlines()
        if f"Seq Scan on {table}" in line
        and float(line.split("(cost=", 1)[1].split("..", 1)[1].split(" ", 1)[0]) >= SMALL_SCAN
    ]


def test_candidates_come_from_the_live_connection_index(big_ledger):
    import uuid

    plan = _plan(CANDIDATES_SQL, {"after": uuid.UUID(int=0), "batch": 500})
    assert "delivery_event" not in plan, plan


def test_a_threads_state_is_read_by_index_probes(big_ledger):
    plan = _plan(STATE_SQL, [[big_ledger.id]])
    assert not _scans(plan, "delivery_event"), plan
    plan = _plan(ATTEMPTS_SQL, [[big_ledger.id], [LEDGER_ROWS - UNACKED + 1], [LEDGER_ROWS]])
    assert not _scans(plan, "delivery_deliveryattempt"), plan


def test_a_sweep_over_a_big_ledger_is_fast(big_ledger, fast_timings):
    fast_timings(ACK_DEADLINE=1.0, RETRY_BUDGET=1)
    started = time.monotonic()
    report = reconcile()
    assert report.undelivered == UNACKED
    assert time.monotonic() - started < 2.0
