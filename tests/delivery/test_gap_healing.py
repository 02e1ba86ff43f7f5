"""Channel-layer drops, made on purpose with a small `capacity` and a stalled consumer."""

import asyncio
from unittest import mock

import pytest
from channels.layers import channel_layers

from delivery import emit, metrics
from delivery.fastpath.publisher import publisher
from delivery.ledger.selectors import EventState
from delivery.models import DeliveryAttempt, Outcome
from delivery.wire import ledger_io
from tests.delivery.wsclient import connect, db, eventually, receive_events, send
from tests.ledger import states

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiny_capacity(settings):
    default = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**default, "CONFIG": {**default["CONFIG"], "capacity": 2}}
    }
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


class StalledConsumer:
    """The consumer blocks in a frame handler (a user message that takes its time), so it
    stops reading its channel: the layer then drops what the group sends it."""

    def __enter__(self):
        self.release = asyncio.Event()

        async def slow_post_message(**kwargs):
            await self.release.wait()
            return None, False

        self.patch = mock.patch.object(ledger_io, "post_message", slow_post_message)
        self.patch.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.patch.stop()


async def _stall_and_burst(ws, thread, count):
    """Stall the consumer, emit `count` events one by one; returns the drops counted."""
    before = metrics.events_dropped.labels(cause="channel_full")._value.get()
    with StalledConsumer():
        await send(ws, {"type": "message", "text": "hi", "client_id": "stall"})  # blocks
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


async def test_dropped_sends_are_recorded_and_the_events_stay_unsent(thread, user, tiny_capacity):
    ws, _ = await connect(thread, user)
    await _stall_and_burst(ws, thread, 6)
    misses = await db(
        lambda: list(DeliveryAttempt.objects.filter(thread=thread, outcome=Outcome.DROPPED))
    )()
    assert misses and all(a.connection_id is None and a.trigger == "live" for a in misses)
    assert EventState.COMMITTED in (await db(states)(thread)).values()  # nobody wrote them
    await ws.disconnect()


async def test_a_healed_gap_shows_its_first_send_and_connection(thread, user, tiny_capacity):
    ws, _ = await connect(thread, user)
    await _stall_and_burst(ws, thread, 6)
    await db(emit)(thread, "step", {"i": "after"})
    await receive_events(ws, 7)
    await ws.disconnect()
    statuses = await db(lambda: __import__("tests.ledger").ledger.statuses(thread))()
    healed = [s for s in statuses.values() if s.sends and s.sends[0].trigger == "heal"]
    assert healed, "some event was written by the consumer's gap healing"
    for status in healed:
        assert status.first_sent_at is not None and status.sends[0].connection_id is not None


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
    everything_sent = await eventually(
        db(lambda: EventState.COMMITTED not in states(thread).values())
    )
    assert everything_sent
    await ws.disconnect()
