"""A channels_redis layer that reports what `group_send` did, including the drops it hides.

`RedisChannelLayer.group_send` counts the channels that were over capacity and drops the
message for them, telling nobody but an INFO log line. We hook that log record, count it as
`websocket_events_dropped_total{cause="channel_full"}`, and return it to the caller with the
number of channels in the group, so the emit service can tell "sent", "dropped" and "nobody is
listening" apart without another Redis round trip.
"""

import logging
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
