"""The thread list and the timeline cost a fixed number of queries, however big the ledger."""

import json

import pytest
from django.utils import timezone

from delivery.models import (
    AckRange,
    Connection,
    DeliveryAttempt,
    Event,
    Thread,
    UndeliveredRange,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger_1k(db):
    """1,000 threads; the first has 300 events, attempts and connections."""
    owner = UserFactory(username="bulk", email="bulk@example.test")
    threads = Thread.objects.bulk_create(
        Thread(owner=owner, last_seq=3, acked_seq=1) for _ in range(1000)
    )
    now = timezone.now()  # events are never older than their thread
    Thread.objects.filter(owner=owner).update(last_event_at=now)
    Event.objects.bulk_create(
        Event(thread=t, seq=s, type="agent_step", created_at=now)
        for t in threads[1:]
        for s in (1, 2, 3)
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(thread=t, trigger="live", first_seq=1, last_seq=3, created_at=now)
        for t in threads[1:]
    )
    AckRange.objects.bulk_create(
        AckRange(thread=t, above=0, upto=1, acked_at=now) for t in threads[1:]
    )
    UndeliveredRange.objects.bulk_create(
        UndeliveredRange(thread=t, first_seq=3, last_seq=3, cause="no ack") for t in threads[1:]
    )
    big = threads[0]
    Thread.objects.filter(pk=big.pk).update(last_seq=300, acked_seq=0)
    Event.objects.bulk_create(
        Event(thread=big, seq=s, type="agent_step", created_at=now) for s in range(1, 301)
    )
    Connection.objects.bulk_create(Connection(thread=big, user=owner) for _ in range(20))
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(thread=big, trigger="retry", first_seq=1, last_seq=5, created_at=now)
        for _ in range(20)
    )
    return big


def test_thread_list_query_count_is_bounded(support, ledger_1k, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        response = support.get("/console/threads/", {"q": "bulk@example.test"})
    assert response.status_code == 200
    assert response.content.decode().count("badge health-") == 50


def test_timeline_query_count_is_bounded(support, ledger_1k, django_assert_max_num_queries):
    # Page, auth and session, then the thread, its events, their three range reads
    # (attempts, acks, undelivered) and the acks' connections for the attempt history, the
    # thread's event types for the filter, then the side rows: fixed, whatever the size.
    with django_assert_max_num_queries(17):
        response = support.get(f"/console/threads/{ledger_1k.pk}/")
    assert response.status_code == 200
    assert "Older events" in response.content.decode()  # 300 events, 200 per page


def test_overview_query_count_is_bounded(support, ledger_1k, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        assert support.get("/console/").status_code == 200


def test_health_counts_equal_classifying_every_thread(ledger_1k):
    """Only troubled threads are classified; the rest are counted healthy without a look."""
    from collections import Counter

    from monitoring import health

    every = Counter(health.threads_with_health().values_list("health", flat=True))
    assert health.health_counts() == {h.value: every.get(h.value, 0) for h in health.Health}


def test_ledger_reads_are_never_jit_compiled(ledger_1k):
    """Every read of delivery_event spans all its day partitions, so the planner's cost passes
    jit_above_cost however little it reads: with JIT on, PostgreSQL 15 spent 1.1 s compiling
    the overview's 30 ms unacked-by-age query. The app's connections turn JIT off, so even with
    the threshold at zero the plan carries no JIT section."""
    from django.db import connection

    from console.overview import UNACKED_AGES_SQL

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SET jit_above_cost = 0")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {UNACKED_AGES_SQL}")
        plan = cursor.fetchone()[0]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    assert "JIT" not in plan
