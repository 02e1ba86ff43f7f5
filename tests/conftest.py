import pytest
from channels.layers import get_channel_layer

from delivery.fastpath.publisher import publisher
from tests.factories import ThreadFactory, UserFactory
from tests.processes import start_celery_worker, stop


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def thread(user):
    return ThreadFactory(owner=user)


@pytest.fixture(autouse=True)
async def _flush_channel_layer():
    """Each test starts with an empty channel layer (its keys carry a per-run prefix)."""
    yield
    assert publisher.wait_idle(10), "fast-path rounds still running after the test"
    layer = get_channel_layer()
    await layer.flush()


@pytest.fixture(autouse=True)
def _empty_ledger_tables(request, django_db_blocker):
    """The partitioned ledger tables are unmanaged (their DDL is hand-written), so Django's
    flush after a transactional test does not empty them: this does."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if not (transactional or "transactional_db" in request.fixturenames):
        return
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE delivery_event, delivery_deliveryattempt, delivery_ackrange")


@pytest.fixture(scope="session", autouse=True)
def _close_publisher_connection(django_db_setup, django_db_blocker):
    """The publisher thread's connection must be gone before the test database is dropped."""
    yield
    publisher.close_ledger_connection()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker on this run's queue, against the test database."""
    process = start_celery_worker(tmp_path_factory.mktemp("celery") / "worker.log")
    yield process
    stop(process)


@pytest.fixture
def fast_timings(settings):
    """Short LEDGERLINE timings, so schedules (deadlines, backoff, pings) run in milliseconds."""

    def apply(**timings):
        settings.LEDGERLINE = {**settings.LEDGERLINE, **timings}

    return apply


@pytest.fixture(autouse=True)
def without_agent(request):
    """No agent answers a message posted in this process unless the test is marked `agent`:
    a test of the user's turn alone must not race the session's Celery worker (started by an
    earlier test, in any order), which would start a run and add its events. Servers a test
    starts (daphne, workers) have the agent as always."""
    if request.node.get_closest_marker("agent"):
        yield
        return
    from agent.signals import start_run
    from delivery.signals import message_posted

    message_posted.disconnect(dispatch_uid="agent.start_run")
    yield
    message_posted.connect(start_run, dispatch_uid="agent.start_run")
