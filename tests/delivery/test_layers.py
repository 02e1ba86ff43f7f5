"""`LedgerRedisChannelLayer.group_send_many` against the real Redis: many groups, two calls."""

import asyncio

import pytest
from django.conf import settings

from delivery.fastpath.layers import LedgerRedisChannelLayer
from tests.monitoring.sampling import sample


def _layer(**config: object) -> LedgerRedisChannelLayer:
    return LedgerRedisChannelLayer(**{**settings.CHANNEL_LAYERS["default"]["CONFIG"], **config})


async def _received(layer: LedgerRedisChannelLayer, channel: str) -> list[dict]:
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), timeout=0.3))
        except TimeoutError:
            return messages


async def test_each_group_gets_its_own_message_and_its_channel_count():
    layer = _layer()
    a1, a2, b = [await layer.new_channel() for _ in range(3)]
    for group, channel in (("g.a", a1), ("g.a", a2), ("g.b", b)):
        await layer.group_add(group, channel)
    sends = [(f"g.{name}", {"type": "ledger.events", "events": [name]}) for name in "abc"]
    results = await layer.group_send_many(sends)
    assert [(r.channels, r.dropped) for r in results] == [(2, 0), (1, 0), (0, 0)]
    for channel, name in ((a1, "a"), (a2, "a"), (b, "b")):
        assert [m["events"] for m in await _received(layer, channel)] == [[name]]
    await layer.flush()


async def test_a_full_channel_is_counted_as_a_drop():
    layer = _layer(capacity=1)
    full, free = await layer.new_channel("full"), await layer.new_channel("free")
    await layer.group_add("g.full", full)
    await layer.group_add("g.free", free)
    await layer.send(full, {"type": "ledger.events", "events": ["earlier"]})
    before = sample("websocket_events_dropped_total", cause="channel_full")
    message = {"type": "ledger.events", "events": [1, 2]}
    results = await layer.group_send_many([("g.full", message), ("g.free", message)])
    assert [(r.channels, r.dropped) for r in results] == [(1, 1), (1, 0)]
    assert sample("websocket_events_dropped_total", cause="channel_full") == before + 2
    assert [m["events"] for m in await _received(layer, full)] == [["earlier"]]
    await layer.flush()


async def test_an_expired_member_is_not_sent_to():
    layer = _layer(group_expiry=1)
    channel = await layer.new_channel()
    await layer.group_add("g.old", channel)
    await asyncio.sleep(2.1)
    [result] = await layer.group_send_many([("g.old", {"type": "ledger.events", "events": []})])
    assert result.channels == 0
    await layer.flush()


@pytest.mark.parametrize("name", ["bad group!", "x" * 200])
async def test_a_bad_group_name_is_refused(name):
    with pytest.raises(TypeError):
        await _layer().group_send_many([(name, {"type": "ledger.events"})])
