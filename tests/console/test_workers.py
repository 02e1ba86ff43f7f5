"""The worker view, from a real Celery worker and the real broker: who is up, with what pool,
on which queue, since when its last heartbeat, and how many messages wait in each queue."""

import os
import time
import uuid

import pytest
from celery import current_app
from django.conf import settings

from console import workers
from tests.processes import start_celery_worker, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


# The session's own worker (tests/conftest.py) may be up on the same queue: this one has a
# name of its own, or the broker would answer for one of the two under their shared name.
NODE = f"console-view-{os.getpid()}"


@pytest.fixture
def worker(tmp_path):
    process = start_celery_worker(tmp_path / "worker.log", node=f"{NODE}@%h")
    yield process
    stop(process)


def ours(view: workers.WorkerView) -> workers.Worker:
    mine = [w for w in view.workers if w.name.startswith(f"{NODE}@")]
    assert len(mine) == 1, [w.name for w in view.workers]  # the broker is shared
    return mine[0]


def test_a_running_worker_is_listed_with_its_pool_queue_and_heartbeat(worker):
    deadline = time.monotonic() + 10
    while True:  # the first heartbeat comes within 2 s of ready
        view = workers.snapshot()
        if ours(view).heartbeat_at or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    seen = ours(view)
    assert view.error == ""
    assert seen.pid == worker.pid and seen.concurrency == 2
    assert seen.queues == [settings.CELERY_TASK_DEFAULT_QUEUE]
    assert seen.heartbeat_at is not None and seen.active == []
    assert (settings.CELERY_TASK_DEFAULT_QUEUE, 0) in view.queues


def test_queue_depth_counts_the_messages_nobody_has_taken(worker):
    idle = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-idle-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        current_app.send_task("ledgerline.never-run", args=[n], queue=idle)
    try:
        depths = workers.queue_depths([idle, f"{idle}-unknown"])
    finally:
        with current_app.connection_for_write() as conn:  # the shared broker keeps nothing
            conn.default_channel.queue_purge(idle)

    assert depths == [(idle, 3), (f"{idle}-unknown", 0)]


def test_with_the_broker_down_the_page_says_so(admin, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker at 127.0.0.1:9 refused")

    monkeypatch.setattr(workers.current_app.control, "inspect", down)

    view = workers.snapshot()
    page = admin.get("/console/workers/")

    assert view.workers == [] and "refused" in view.error
    assert page.status_code == 200 and "refused" in page.content.decode()
