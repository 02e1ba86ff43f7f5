"""Per-connection pacing: batched cumulative acks and a token bucket against flooding."""

import asyncio
import logging
import time
import uuid
from datetime import datetime

from channels.db import database_sync_to_async
from django.utils import timezone

from delivery import conf, connections

logger = logging.getLogger(__name__)

record_ack = database_sync_to_async(connections.record_ack)


class AckBatcher:
    """Collects cumulative acks and writes them in one update per flush interval."""

    # One per open socket: slots keep idle connections small.
    __slots__ = ("connection_id", "flusher", "highest", "highest_at", "recorded", "thread_id")

    def __init__(self, thread_id: uuid.UUID, connection_id: uuid.UUID, *, floor: int) -> None:
        self.thread_id = thread_id
        self.connection_id = connection_id
        self.recorded = floor  # everything up to here is already acked in the ledger
        self.highest = floor
        self.highest_at: datetime | None = None  # when the highest ack arrived
        self.flusher: asyncio.Task[None] | None = None

    def add(self, seq: int) -> None:
        if seq > self.highest:
            self.highest, self.highest_at = seq, timezone.now()
        self._schedule()

    def _schedule(self) -> None:
        # Whenever something is unrecorded and no flush is pending, one is scheduled: an ack
        # that arrives while a flush is writing is never left behind.
        if self.highest > self.recorded and (self.flusher is None or self.flusher.done()):
            self.flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(conf.timing("ACK_FLUSH_INTERVAL"))
        await self.flush()
        self.flusher = None
        self._schedule()

    async def flush(self) -> None:
        upto = self.highest
        if upto <= self.recorded:
            return
        try:
            await record_ack(
                thread_id=self.thread_id,
                upto=upto,
                above=self.recorded,
                connection_id=self.connection_id,
                at=self.highest_at,
            )
        except Exception:
            # The ack stays pending here and is retried with the next flush; the ledger still
            # shows these events unacked, which the reconciler treats as unacked.
            logger.exception("ack flush failed for thread %s up to %s", self.thread_id, upto)
            return
        self.recorded = max(self.recorded, upto)

    async def close(self) -> None:
        if self.flusher is not None and not self.flusher.done():
            self.flusher.cancel()
        await self.flush()


class FrameBudget:
    """A token bucket: `RATE_LIMIT_PER_SECOND` frames a second, bursts up to `RATE_LIMIT_BURST`."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self) -> None:
        self.rate = conf.timing("RATE_LIMIT_PER_SECOND")
        self.capacity = float(conf.limit("RATE_LIMIT_BURST"))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
