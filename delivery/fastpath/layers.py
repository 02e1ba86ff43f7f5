"""A channels_redis layer that reports what `group_send` did, including the drops it hides.

`RedisChannelLayer.group_send` counts the channels that were over capacity and drops the
message for them, telling nobody but an INFO log line. We hook that log record, count it as
`websocket_events_dropped_total{cause="channel_full"}`, and return it to the caller with the
number of channels in the group, so the emit service can tell "sent", "dropped" and "nobody is
listening" apart without another Redis round trip.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from channels_redis.core import RedisChannelLayer

from delivery import metrics


@dataclass
class GroupSendResult:
    channels: int = 0
    dropped: int = 0
    _drops: list[int] = field(default_factory=list, repr=False)


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
        self, sends: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[GroupSendResult]:
        """`group_send` of many (group, message) pairs in two Redis calls per host, where one
        `group_send` takes four round trips: every group's channels, then every message.

        Each result says, like `group_send`'s, how many channels the group had and how many
        of them were full (the message was dropped for those).
        """
        members = await self._group_members([group for group, _ in sends])
        results = [GroupSendResult(channels=len(channels)) for channels in members]
        by_host: dict[int, list[KeyedSend]] = defaultdict(list)
        for position, ((_, message), channels) in enumerate(zip(sends, members, strict=True)):
            hosts, payloads, capacities = self._map_channel_keys_to_connection(channels, message)
            for host, keys in hosts.items():
                send = (position, keys, [payloads[k] for k in keys], [capacities[k] for k in keys])
                by_host[host].append(send)
        for host, keyed in by_host.items():
            full = await self._send_scripted(host, keyed)
            for (position, *_), dropped in zip(keyed, full, strict=True):
                results[position].dropped += dropped
        for (_, message), result in zip(sends, results, strict=True):
            if result.dropped:
                metrics.events_dropped.labels(cause="channel_full").inc(
                    result.dropped * max(1, len(message.get("events", ())))
                )
        return results

    async def _group_members(self, groups: list[str]) -> list[list[str]]:
        """Every group's channels, expired members discarded first (as `group_send` does)."""
        by_host: dict[int, list[int]] = defaultdict(list)
        for position, group in enumerate(groups):
            self.require_valid_group_name(group)  # raises on a bad name
            by_host[self.consistent_hash(group)].append(position)
        members: list[list[str]] = [[] for _ in groups]
        expired = int(time.time()) - self.group_expiry
        for host, positions in by_host.items():
            keys = [self._group_key(groups[position]) for position in positions]
            replies = await self.connection(host).eval(GROUP_MEMBERS_LUA, len(keys), *keys, expired)
            for position, channels in zip(positions, replies, strict=True):
                members[position] = [channel.decode("utf8") for channel in channels]
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
