"""The reconciler's reads use the partial index: cost follows the unacked set, not the ledger."""

import time

import pytest
from django.db import connection
from django.utils import timezone

from delivery.models import Connection
from delivery.reconcile import DUE_SQL, MAX_BACKOFF_EXPONENT, PENDING_SQL, reconcile

pytestmark = pytest.mark.django_db

LEDGER_ROWS = 120_000


@pytest.fixture
def big_ledger(thread, user):
    """120k acked events plus a handful unacked, bulk-inserted in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical,
                created_at, first_sent_at, last_sent_at, attempts, acked_at, state,
                undelivered_cause)
            SELECT %s, g, gen_random_uuid(), 'step', '{}'::jsonb, true,
                   now() - interval '1 day', now() - interval '1 day', now() - interval '1 day',
                   1, now() - interval '1 day',
                   CASE WHEN g > %s - 10 THEN 'sent' ELSE 'acked' END, ''
              FROM generate_series(1, %s) g
            """,
            [thread.id, LEDGER_ROWS, LEDGER_ROWS],
        )
        cursor.execute(
            "UPDATE delivery_thread SET last_seq = %s WHERE id = %s", [LEDGER_ROWS, thread.id]
        )
        cursor.execute("ANALYZE delivery_event")
        cursor.execute("ANALYZE delivery_connection")
    Connection.objects.create(thread=thread, user=user)
    return thread


def _plan(sql: str, params: dict) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_due_scan_uses_the_unacked_partial_index(big_ledger):
    now = timezone.now()
    plan = _plan(
        DUE_SQL,
        {"now": now, "cutoff": now, "deadline": 8.0, "cap": MAX_BACKOFF_EXPONENT, "batch": 500},
    )
    assert "event_unacked_idx" in plan, plan
    assert "Seq Scan on delivery_event" not in plan, plan


def test_pending_scan_uses_a_partial_index_of_open_events(big_ledger):
    plan = _plan(PENDING_SQL, {"grace": timezone.now(), "batch": 500})
    # Either partial index holds only unacknowledged events; the planner picks by its stats.
    assert "event_unacked_idx" in plan or "event_open_thread_idx" in plan, plan
    assert "Seq Scan on delivery_event" not in plan, plan


def test_a_sweep_over_a_big_ledger_is_fast(big_ledger, fast_timings):
    fast_timings(ACK_DEADLINE=1.0, RETRY_BUDGET=1)
    started = time.monotonic()
    report = reconcile()
    assert report.undelivered == 10
    assert time.monotonic() - started < 2.0
