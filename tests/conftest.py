import pytest
from channels.layers import get_channel_layer

from delivery.publisher import publisher
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
