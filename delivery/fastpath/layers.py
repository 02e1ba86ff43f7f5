"""A channels_redis layer that reports what `group_send` did, including the drops it hides.

`RedisChannelLayer.group_send` counts the channels that were over capacity and drops the
message for them, telling nobody but an INFO log line. We hook that log record, count it as
`websocket_events_dropped_total{cause="channel_full"}`, and return it to the caller with the
number of channels in the group, so the emit service can tell "sent", "dropped" and "nobody is
listening" apart without another Redis round trip.

Sharded over several hosts (`REDIS_URLS`) the layer also:
- sends to a socket's channel on the host that socket reads from (`send`);
- fails only the sends of a host that is down, not the whole batch (`group_send_many`);
- says which hosts lost their keys since it last looked (`lost_hosts`), so sockets can join
  their groups again on a shard that came back empty.
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from delivery import metrics

logger = logging.getLogger(__name__)


@dataclass
class GroupSendResult:
    channels: int = 0
    dropped: int = 0
    failed: bool = False  # a host holding the group or some of its channels did not answer
    _drops: list[int] = field(default_factory=list, repr=False)


# A layer host that is down or unreachable: an outage to report in one line, not a bug.
OUTAGES = (OSError, RedisConnectionError, RedisTimeoutError)

# A key every host keeps while it keeps its data; a host without it lost every group on it.
MARKER_KEY = "ledgerline.marker"


# `group_send_many`'s two scripts, one call per Redis host each. The first does what
# channels_redis's group_send does to find a group's channels, for every group: discard
# expired members, then list them.
GROUP_MEMBERS_LUA = """
    local members = {}
    for i = 1, #KEYS do
        redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
        members[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
    end
    return members
"""
# The second is channels_redis's group_send script over every group's channel keys at once:
# discard expired messages, queue on each key under capacity, and count per group the keys
# that were full. ARGV: the messages, the capacities, each key's group (1-based), then the
# number of groups, now, the expiry and the expired-before time.
GROUP_SEND_LUA = """
    local n = #KEYS
    local now, expiry, stale = ARGV[3 * n + 2], ARGV[3 * n + 3], ARGV[3 * n + 4]
    local full = {}
    for g = 1, tonumber(ARGV[3 * n + 1]) do full[g] = 0 end
    for i = 1, n do
        redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, stale)
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
            redis.call('ZADD', KEYS[i], now, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            local g = tonumber(ARGV[2 * n + i])
            full[g] = full[g] + 1
        end
    end
    return full
"""
# (position in the batch, the group's channel keys on one host, their messages, capacities)
KeyedSend = tuple[int, list[str], list[bytes], list[int]]

_current: ContextVar[GroupSendResult | None] = ContextVar("group_send_result", default=None)


class _OverCapacityHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        result = _current.get()
        if result is not None and "over capacity" in str(record.msg) and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            result._drops.append(int(str(args[0])))


def install_drop_hook() -> None:
    """Attach the over-capacity handler once; called from `DeliveryConfig.ready`."""
    logger = logging.getLogger("channels_redis.core")
    if not any(isinstance(h, _OverCapacityHandler) for h in logger.handlers):
        logger.addHandler(_OverCapacityHandler(level=logging.INFO))
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)


class LedgerRedisChannelLayer(RedisChannelLayer):
    """`group_send` returns a `GroupSendResult` and counts channel_full drops."""

    # channels_redis blocks in BZPOPMIN for `brpop_timeout` (5 s) while redis-py >= 8 gives
    # every socket read a 5 s timeout: an idle consumer's receive then raised TimeoutError and
    # its socket died after ~5 s of silence. Blocking for less than the read timeout keeps
    # idle sockets alive.
    brpop_timeout = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._marked: set[int] = set()  # hosts seen holding the marker

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """`RedisChannelLayer.send`, on the host the channel is read from.

        channels_redis 4.3 picks the host of a process-local channel ("specific.x!y") by
        hashing the whole name, but its receiver reads from the host of "specific.x!" and so
        does `group_send`. With one host that is the same; with two, about half of all direct
        sends (a revocation, a presence notice) went to a key nobody read.
        """
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        name = channel
        if "!" in channel:
            message = {**message, "__asgi_channel__": channel}
            name = self.non_local_name(channel)
            index = self.consistent_hash(name)
        else:
            index = next(self._send_index_generator)
        key = self.prefix + name
        connection = self.connection(index)
        await connection.zremrangebyscore(key, min=0, max=int(time.time()) - int(self.expiry))
        if await connection.zcount(key, "-inf", "+inf") >= self.get_capacity(channel):
            raise ChannelFull()
        await connection.zadd(key, {self.serialize(message): time.time()})
        await connection.expire(key, int(self.expiry))

    async def lost_hosts(self) -> set[int]:
        """Hosts that lost their keys since the last call: restarted empty, or flushed.

        This process keeps a marker key of its own on each host, renewed by each call. A host
        seen with it before and found without it now lost every group it held; the sockets of
        those groups must join again and fetch from the ledger what the groups carried
        meanwhile. A host that does not answer is looked at again on the next call. The key
        is per process: the first process to find a shared one gone would put it back, and
        the others would never know.
        """
        key, ttl = f"{self.prefix}{MARKER_KEY}.{self.client_prefix}", max(self.group_expiry, 86400)
        lost = set()
        for index in range(self.ring_size):
            try:
                before = await self.connection(index).set(key, b"1", ex=ttl, get=True)
            except Exception as exc:
                logger.debug("channel layer host %s did not answer: %r", index, exc)
                continue
            if before is None and index in self._marked:
                lost.add(index)
            self._marked.add(index)
        return lost

    async def group_send(  # type: ignore[override]
        self, group: str, message: dict[str, Any]
    ) -> GroupSendResult:
        result = GroupSendResult()
        token = _current.set(result)
        try:
            await super().group_send(group, message)
        finally:
            _current.reset(token)
        result.dropped = sum(result._drops)
        if result.dropped:
            metrics.events_dropped.labels(cause="channel_full").inc(
                result.dropped * max(1, len(message.get("events", ())))
            )
        return result

    def _map_channel_keys_to_connection(self, channel_names: list[str], message: Any) -> Any:
        result = _current.get()
        if result is not None:
            result.channels = len(channel_names)
        return super()._map_channel_keys_to_connection(channel_names, message)

    async def group_send_many(
        self, sends: Sequence[tuple[str, dict[str, Any]]], *, host_seconds: float | None = None
    ) -> list[GroupSendResult]:
        """`group_send` of many (group, message) pairs in two Redis calls per host, where one
        `group_send` takes four round trips: every group's channels, then every message.

        Each result says, like `group_send`'s, how many channels the group had and how many
        of them were full (the message was dropped for those). Hosts are asked concurrently,
        each within `host_seconds`: a host that fails or is slow fails only the groups it holds or
        whose channels it holds (`failed`); the others' messages go out.
        """
        for group, _ in sends:
            self.require_valid_group_name(group)  # raises on a bad name, before any send
        results = [GroupSendResult() for _ in sends]
        members = await self._group_members([group for group, _ in sends], results, host_seconds)
        by_host: dict[int, list[KeyedSend]] = defaultdict(list)
        for position, ((_, message), channels) in enumerate(zip(sends, members, strict=True)):
            results[position].channels = len(channels)
            hosts, payloads, capacities = self._map_channel_keys_to_connection(channels, message)
            for host, keys in hosts.items():
                send = (position, keys, [payloads[k] for k in keys], [capacities[k] for k in keys])
                by_host[host].append(send)
        replies = await self._each_host(
            [(host, self._send_scripted(host, keyed)) for host, keyed in by_host.items()],
            host_seconds,
        )
        for keyed, full in zip(by_host.values(), replies, strict=True):
            for (position, *_), dropped in zip(keyed, full or [None] * len(keyed), strict=True):
                if dropped is None:
                    results[position].failed = True
                else:
                    results[position].dropped += dropped
        for (_, message), result in zip(sends, results, strict=True):
            if result.dropped:
                metrics.events_dropped.labels(cause="channel_full").inc(
                    result.dropped * max(1, len(message.get("events", ())))
                )
        return results

    async def _each_host(
        self, calls: list[tuple[int, Coroutine[Any, Any, Any]]], seconds: float | None
    ) -> list[Any]:
        """Each host's reply (None where it failed or was late), the hosts asked concurrently.
        One host is awaited in place: a task per call costs the publisher extra trips round
        its event loop, each of which waits for the GIL behind the emitting threads."""
        if len(calls) == 1:
            return [await self._on_host(*calls[0], seconds)]
        return list(await asyncio.gather(*(self._on_host(h, c, seconds) for h, c in calls)))

    async def _on_host(self, host: int, call: Any, seconds: float | None) -> Any:
        """One host's reply, or None if it failed or did not answer within `seconds`."""
        try:
            async with asyncio.timeout(seconds):  # no task of its own, unlike wait_for
                return await call
        except Exception as exc:
            logger.warning("channel layer host %s failed a group send: %r", host, exc)
            return None

    async def _group_members(
        self, groups: list[str], results: list[GroupSendResult], seconds: float | None
    ) -> list[list[str]]:
        """Every group's channels, expired members discarded first (as `group_send` does). A
        group whose host failed has none, and its result says it failed."""
        by_host: dict[int, list[int]] = defaultdict(list)
        for position, group in enumerate(groups):
            by_host[self.consistent_hash(group)].append(position)
        members: list[list[str]] = [[] for _ in groups]
        expired = int(time.time()) - self.group_expiry

        async def ask(host: int, positions: list[int]) -> Any:
            keys = [self._group_key(groups[position]) for position in positions]
            return await self.connection(host).eval(GROUP_MEMBERS_LUA, len(keys), *keys, expired)

        replies = await self._each_host(
            [(host, ask(host, positions)) for host, positions in by_host.items()], seconds
        )
        for positions, reply in zip(by_host.values(), replies, strict=True):
            for index, position in enumerate(positions):
                if reply is None:
                    results[position].failed = True
                else:
                    members[position] = [channel.decode("utf8") for channel in reply[index]]
        return members

    async def _send_scripted(self, host: int, keyed: list[KeyedSend]) -> list[int]:
        """Queue every group's message on its channel keys of one host; returns how many keys
        of each group were over capacity."""
        keys = [key for _, group_keys, _, _ in keyed for key in group_keys]
        payloads = [payload for _, _, group_payloads, _ in keyed for payload in group_payloads]
        capacities = [capacity for *_, group_capacities in keyed for capacity in group_capacities]
        groups = [g for g, (_, group_keys, _, _) in enumerate(keyed, 1) for _ in group_keys]
        now, expired = time.time(), int(time.time()) - int(self.expiry)
        args = [*payloads, *capacities, *groups, len(keyed), now, self.expiry, expired]
        full = await self.connection(host).eval(GROUP_SEND_LUA, len(keys), *keys, *args)
        return [int(count) for count in full]
