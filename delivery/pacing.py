"""Per-connection pacing: cumulative acks written for all sockets at once, and a token bucket
against flooding."""

import asyncio
import logging
import time
import uuid
from datetime import datetime

from channels.db import database_sync_to_async
from django.utils import timezone

from delivery import conf, connections
from delivery.loops import PerLoop

logger = logging.getLogger(__name__)

record_acks = database_sync_to_async(connections.record_acks)


class AckBatcher:
    """A socket's cumulative ack: what the client acked, and what the ledger already has."""

    # One per open socket: slots keep idle connections small.
    __slots__ = ("connection_id", "highest", "highest_at", "recorded", "thread_id")

    def __init__(self, thread_id: uuid.UUID, connection_id: uuid.UUID, *, floor: int) -> None:
        self.thread_id = thread_id
        self.connection_id = connection_id
        self.recorded = floor  # everything up to here is already acked in the ledger
        self.highest = floor
        self.highest_at: datetime | None = None  # when the highest ack arrived

    def add(self, seq: int) -> None:
        if seq > self.highest:
            self.highest, self.highest_at = seq, timezone.now()
        if self.highest > self.recorded:
            ack_writer().schedule(self)

    def pending(self) -> connections.Ack | None:
        if self.highest <= self.recorded:
            return None
        at = self.highest_at or timezone.now()
        return connections.Ack(self.thread_id, self.connection_id, self.recorded, self.highest, at)

    def written(self, upto: int) -> None:
        self.recorded = max(self.recorded, upto)

    async def close(self) -> None:
        """Write this socket's last acks now: the connection row is closed right after."""
        ack_writer().discard(self)
        await ack_writer().write([self])


class AckWriter:
    """One per event loop: every ACK_FLUSH_INTERVAL, one statement writes every socket's new
    acks (a statement per socket made ack writes most of daphne's database work)."""

    def __init__(self) -> None:
        self.waiting: set[AckBatcher] = set()
        self.task: asyncio.Task[None] | None = None

    def schedule(self, batcher: AckBatcher) -> None:
        self.waiting.add(batcher)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def discard(self, batcher: AckBatcher) -> None:
        self.waiting.discard(batcher)

    async def _run(self) -> None:
        while self.waiting:
            await asyncio.sleep(conf.timing("ACK_FLUSH_INTERVAL"))
            batchers, self.waiting = self.waiting, set()
            await self.write(batchers)

    async def write(self, batchers: "set[AckBatcher] | list[AckBatcher]") -> None:
        # An ack that arrives while this write runs schedules its socket for the next one.
        acks = [(batcher, ack) for batcher in batchers if (ack := batcher.pending())]
        if not acks:
            return
        try:
            await record_acks([ack for _, ack in acks])
        except Exception:
            # Retried with the next flush; until then the ledger shows these events unacked,
            # which the reconciler treats as unacked.
            logger.exception("ack write for %s socket(s) failed", len(acks))
            for batcher, _ in acks:
                self.schedule(batcher)
            return
        for batcher, ack in acks:
            batcher.written(ack.upto)


# The running event loop's ack writer.
ack_writer = PerLoop(AckWriter)


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
