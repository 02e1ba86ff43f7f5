"""A channels_redis layer that reports the drops channels_redis only logs at INFO.

`RedisChannelLayer.group_send` counts the channels that were over capacity and drops the
message for them, telling nobody but an INFO log line. We hook that log record, count it as
`websocket_events_dropped_total{cause="channel_full"}` and return the count to the caller, so
the emit service can leave the affected events pending for immediate redelivery.
"""

import logging
from contextvars import ContextVar
from typing import Any

from channels_redis.core import RedisChannelLayer

from delivery import metrics

_over_capacity: ContextVar[list[int] | None] = ContextVar("over_capacity", default=None)


class _OverCapacityHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sink = _over_capacity.get()
        if sink is not None and "over capacity" in str(record.msg) and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            sink.append(int(str(args[0])))


def install_drop_hook() -> None:
    """Attach the over-capacity handler once; called from `DeliveryConfig.ready`."""
    logger = logging.getLogger("channels_redis.core")
    if not any(isinstance(h, _OverCapacityHandler) for h in logger.handlers):
        logger.addHandler(_OverCapacityHandler(level=logging.INFO))
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)


class LedgerRedisChannelLayer(RedisChannelLayer):
    """`group_send` returns how many channels dropped the message, and counts them."""

    # channels_redis blocks in BZPOPMIN for `brpop_timeout` (5 s) while redis-py >= 8 gives
    # every socket read a 5 s timeout: an idle consumer's receive then raised TimeoutError and
    # its socket died after ~5 s of silence. Blocking for less than the read timeout keeps
    # idle sockets alive and keeps the 5 s bound on a hung Redis for the emit fast path.
    brpop_timeout = 2

    async def group_send(self, group: str, message: dict[str, Any]) -> int:  # type: ignore[override]
        sink: list[int] = []
        token = _over_capacity.set(sink)
        try:
            await super().group_send(group, message)
        finally:
            _over_capacity.reset(token)
        dropped = sum(sink)
        if dropped:
            metrics.events_dropped.labels(cause="channel_full").inc(
                dropped * max(1, len(message.get("events", ())))
            )
        return dropped
