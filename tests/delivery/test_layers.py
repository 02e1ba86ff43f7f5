"""`LedgerRedisChannelLayer` against the real Redis: many groups in two calls, and sharded over
two hosts (direct sends, a host that is down, a host that lost its keys)."""

import asyncio
import contextlib
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from delivery.fastpath.fanout import apublish_many
from delivery.fastpath.frames import group_name
from delivery.fastpath.layers import MARKER_KEY, LedgerRedisChannelLayer
from delivery.models import Event, Outcome
from tests.monitoring.sampling import sample
from tests.processes import free_port


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


def _two_hosts(second: str | None = None) -> LedgerRedisChannelLayer:
    """Two shards: two databases of the suite's Redis (distinct hosts as far as the layer's
    hashing goes), or the first and a host that is down."""
    base = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"]
    root = base.rsplit("/", 1)[0]
    return _layer(hosts=[f"{root}/14", second or f"{root}/15"])


async def test_a_direct_send_reaches_the_channel_on_every_shard():
    """channels_redis 4.3 picked a process-local channel's host from its full name and its
    receiver from the process's prefix: with two hosts about half of all direct sends landed
    where nobody read them."""
    sender, receiver = _two_hosts(), _two_hosts()
    channels = [await receiver.new_channel() for _ in range(20)]
    for number, channel in enumerate(channels):
        await sender.send(channel, {"type": "presence.changed", "n": number})
    got = [(await asyncio.wait_for(receiver.receive(c), timeout=2))["n"] for c in channels]
    assert got == list(range(20))
    await receiver.flush()


async def test_the_stock_layer_loses_direct_sends_across_two_shards():
    """Why delivery.fastpath.layers hashes the prefix: the stock backend, same two shards."""
    from channels_redis.core import RedisChannelLayer

    hosts = [h["address"] for h in _two_hosts().hosts]
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    sender, receiver = (RedisChannelLayer(hosts=hosts, prefix=prefix) for _ in range(2))
    channels = [await receiver.new_channel() for _ in range(20)]
    for number, channel in enumerate(channels):
        await sender.send(channel, {"type": "presence.changed", "n": number})
    got = []
    for channel in channels:
        with contextlib.suppress(TimeoutError):
            got.append((await asyncio.wait_for(receiver.receive(channel), timeout=0.3))["n"])
    await sender.flush()
    assert len(got) < 20  # about half land on the shard nobody reads


async def test_a_shard_that_is_down_fails_only_the_groups_on_it():
    layer = _two_hosts(second=f"redis://127.0.0.1:{free_port()}/0")
    up = [f"g.up{n}" for n in range(40) if layer.consistent_hash(f"g.up{n}") == 0][:3]
    down = [f"g.down{n}" for n in range(40) if layer.consistent_hash(f"g.down{n}") == 1][:3]
    receiver = _layer(hosts=[layer.hosts[0]])  # the live shard alone, to listen on it
    # General channels whose keys hash to the live host, so each up group is wholly on it.
    names = (f"listener{n}" for n in range(100))
    listeners = dict(zip(up, (c for c in names if layer.consistent_hash(c) == 0), strict=False))
    for group, channel in listeners.items():
        await receiver.group_add(group, channel)
    sends = [(group, {"type": "ledger.events", "events": [group]}) for group in [*up, *down]]
    results = await layer.group_send_many(sends, host_seconds=2)
    assert [r.failed for r in results] == [False] * 3 + [True] * 3
    assert [r.channels for r in results[:3]] == [1, 1, 1]
    for group in up:
        message = await asyncio.wait_for(receiver.receive(listeners[group]), timeout=2)
        assert message["events"] == [group]
    await receiver.flush()


async def test_fast_path_outcomes_fail_only_the_threads_on_a_down_shard():
    layer = _two_hosts(second=f"redis://127.0.0.1:{free_port()}/0")
    threads = [uuid.uuid4() for _ in range(12)]
    on_down = [layer.consistent_hash(group_name(t)) == 1 for t in threads]
    assert any(on_down) and not all(on_down)

    event = Event(seq=1, type="token", payload={}, created_at=timezone.now())  # unsaved
    outcomes = await apublish_many([(t, [event]) for t in threads], trigger="live", layer=layer)
    expected = [Outcome.FAILED if down else Outcome.NO_LISTENERS for down in on_down]
    assert outcomes == expected


async def test_a_shard_that_lost_its_keys_is_reported_once():
    layer = _two_hosts()
    assert await layer.lost_hosts() == set()
    other = _two_hosts()  # another process: it keeps its own marker
    assert await other.lost_hosts() == set()
    markers = await layer.connection(1).keys(f"{layer.prefix}{MARKER_KEY}.*")
    assert len(markers) == 2
    await layer.connection(1).delete(*markers)  # as a restart or a flush does
    assert await other.lost_hosts() == {1}  # the first to look puts its marker back...
    assert await layer.lost_hosts() == {1}  # ... and the others still see the loss
    assert await layer.lost_hosts() == set()
    await layer.flush()
