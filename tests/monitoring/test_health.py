import pytest

from delivery.models import Connection, DeliveryAttempt, Event, EventState, Trigger
from monitoring.alerts import raise_alert
from monitoring.health import Health, health_counts, thread_health, threads_with_health
from tests.factories import ThreadFactory

pytestmark = pytest.mark.django_db


def _event(thread, seq, state):
    return Event.objects.create(thread=thread, seq=seq, type="step", state=state)


def test_threads_are_classified_by_their_ledger(user):
    healthy, degraded, failing, waiting, stalled = (ThreadFactory(owner=user) for _ in range(5))
    _event(healthy, 1, EventState.ACKED)
    _event(degraded, 1, EventState.ACKED)
    DeliveryAttempt.objects.create(
        thread=degraded, trigger=Trigger.HEAL, from_seq=1, to_seq=1, event_count=1
    )
    _event(failing, 1, EventState.UNDELIVERED)
    _event(waiting, 1, EventState.SENT)
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


def test_unacked_events_with_a_live_client_are_in_flight_not_waiting(thread, user):
    _event(thread, 1, EventState.SENT)
    Connection.objects.create(thread=thread, user=user)
    assert thread_health(thread_id=thread.pk) == Health.HEALTHY


def test_health_of_many_threads_is_one_query(user, django_assert_num_queries):
    for _ in range(30):
        ThreadFactory(owner=user)
    with django_assert_num_queries(1):
        assert len(list(threads_with_health().values_list("health", flat=True))) == 30
