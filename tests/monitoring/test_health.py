import pytest

from delivery import emit
from delivery.models import Connection, Trigger, UndeliveredRange
from monitoring.alerts import raise_alert
from monitoring.health import Health, health_counts, thread_health, threads_with_health
from tests.factories import ThreadFactory
from tests.ledger import ack, sent

pytestmark = pytest.mark.django_db


def _event(thread, state):
    """One event, sent, and then acked or given up on as `state` says."""
    event = emit(thread, "step", {})
    sent(thread, event.seq, event.seq)
    if state == "acked":
        ack(thread, event.seq)
    elif state == "undelivered":
        UndeliveredRange.objects.create(
            thread=thread, first_seq=event.seq, last_seq=event.seq, cause="no ack"
        )
    return event


def test_threads_are_classified_by_their_ledger(user):
    healthy, degraded, failing, waiting, stalled = (ThreadFactory(owner=user) for _ in range(5))
    _event(healthy, "acked")
    _event(degraded, "acked")
    sent(degraded, 1, 1, trigger=Trigger.HEAL)
    _event(failing, "undelivered")
    _event(waiting, "sent")
    raise_alert(kind="stalled_run", thread_id=stalled.id, summary="stalled")
    got = dict(threads_with_health().values_list("pk", "health"))
    assert got == {
        healthy.pk: Health.HEALTHY,
        degraded.pk: Health.DEGRADED,
        failing.pk: Health.FAILING,
        waiting.pk: Health.WAITING,
        stalled.pk: Health.FAILING,
    }
    assert health_counts() == {"healthy": 1, "degraded": 1, "failing": 2, "waiting": 1}


def test_an_undelivered_range_acked_after_all_no_longer_fails_the_thread(thread):
    _event(thread, "undelivered")
    assert thread_health(thread_id=thread.pk) == Health.FAILING
    ack(thread, 1)
    assert thread_health(thread_id=thread.pk) == Health.HEALTHY


def test_unacked_events_with_a_live_client_are_in_flight_not_waiting(thread, user):
    _event(thread, "sent")
    Connection.objects.create(thread=thread, user=user)
    assert thread_health(thread_id=thread.pk) == Health.HEALTHY


def test_health_of_many_threads_is_one_query(user, django_assert_num_queries):
    for _ in range(30):
        ThreadFactory(owner=user)
    with django_assert_num_queries(1):
        assert len(list(threads_with_health().values_list("health", flat=True))) == 30
