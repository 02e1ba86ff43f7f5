"""Channel-layer drops, made on purpose with a small `capacity` and a stalled consumer."""

import asyncio
import threading

import pytest
from channels.layers import channel_layers
from django.db import connection, transaction

from delivery import emit, metrics
from delivery.models import Connection, Event, EventState
from delivery.publisher import publisher
from tests.delivery.wsclient import connect, db, eventually, receive_events, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiny_capacity(settings):
    default = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**default, "CONFIG": {**default["CONFIG"], "capacity": 2}}
    }
    settings.LEDGERLINE = {**settings.LEDGERLINE, "HEARTBEAT_PERSIST_INTERVAL": 0.0}
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


class ConnectionRowLock:
    """Holds the Connection row locked, so the consumer stalls on its next heartbeat write
    and stops reading its channel: the layer then drops what the group sends it."""

    def __init__(self, thread_id):
        self.thread_id = thread_id
        self.locked, self.release = threading.Event(), threading.Event()
        self.worker = threading.Thread(target=self._hold)

    def _hold(self):
        try:
            with transaction.atomic():
                list(Connection.objects.select_for_update().filter(thread_id=self.thread_id))
                self.locked.set()
                self.release.wait(10)
        finally:
            connection.close()

    def __enter__(self):
        self.worker.start()
        assert self.locked.wait(5)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.worker.join()


async def _stall_and_burst(ws, thread, count):
    """Stall the consumer, emit `count` events one by one; returns the drops counted."""
    before = metrics.events_dropped.labels(cause="channel_full")._value.get()
    with ConnectionRowLock(thread.id):
        await send(ws, {"type": "pong", "t": 0})  # the consumer now blocks on the row lock
        for i in range(count):
            await db(emit)(thread, "step", {"i": i})
            # One layer message per emit: no round may coalesce two of them.
            assert await asyncio.to_thread(publisher.wait_idle)
    return metrics.events_dropped.labels(cause="channel_full")._value.get() - before


async def test_gap_is_backfilled_from_ledger(thread, user, tiny_capacity):
    ws, _ = await connect(thread, user)
    healed_before = metrics.gaps_healed._value.get()
    dropped = await _stall_and_burst(ws, thread, 6)
    assert dropped >= 3  # the burst really overflowed the channel
    await db(emit)(thread, "step", {"i": "after"})  # its seq reveals the gap
    frames = await receive_events(ws, 7)
    assert [f["seq"] for f in frames] == list(range(1, 8))
    assert await ws.receive_nothing(timeout=0.3)
    assert metrics.gaps_healed._value.get() > healed_before
    await ws.disconnect()


async def test_dropped_events_stay_pending_for_redelivery(thread, user, tiny_capacity):
    ws, _ = await connect(thread, user)
    await _stall_and_burst(ws, thread, 6)
    states = await db(
        lambda: list(
            Event.objects.filter(thread=thread).order_by("seq").values_list("state", flat=True)
        )
    )()
    assert EventState.PENDING in states  # dropped ones were not marked sent
    await ws.disconnect()


async def test_dropped_tail_is_redelivered_with_no_later_event(
    thread, user, tiny_capacity, celery_worker_process
):
    ws, _ = await connect(thread, user)
    dropped = await _stall_and_burst(ws, thread, 6)
    assert dropped >= 3
    frames = await receive_events(ws, 6, timeout=10)  # nothing else is emitted
    seen = sorted({f["seq"] for f in frames})
    while seen != list(range(1, 7)):
        frames += await receive_events(ws, 1, timeout=10)
        seen = sorted({f["seq"] for f in frames})
    assert [f["seq"] for f in frames][:1] == [1]
    pending = await eventually(
        db(lambda: not Event.objects.filter(thread=thread, state=EventState.PENDING).exists())
    )
    assert pending
    await ws.disconnect()
