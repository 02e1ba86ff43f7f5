"""Per-connection pacing: what each socket sent and what its client acknowledged, written for
all sockets at once; and a token bucket against flooding."""

import asyncio
import logging
import time
import uuid
from datetime import datetime

from channels.db import database_sync_to_async
from django.utils import timezone

from delivery import conf
from delivery.ledger import progress
from delivery.ledger.progress import Progress, SentRange
from delivery.wire.loops import PerLoop

logger = logging.getLogger(__name__)

record_progress = database_sync_to_async(progress.record_progress)


class SocketProgress:
    """A connection's delivery record between writes: the seq ranges written to it (one range
    per run of one trigger, however many frames), its sent watermark, and its client's
    cumulative ack. `recorded_*` is what the ledger already has."""

    # One per open socket: slots keep idle connections small.
    __slots__ = (
        "acked",
        "acked_at",
        "connection_id",
        "recorded_ack",
        "recorded_sent",
        "sent",
        "sent_seq",
        "thread_id",
    )

    def __init__(self, thread_id: uuid.UUID, connection_id: uuid.UUID, *, acked: int) -> None:
        self.thread_id = thread_id
        self.connection_id = connection_id
        self.sent: list[SentRange] = []
        self.sent_seq = self.recorded_sent = 0
        self.acked = self.recorded_ack = acked
        self.acked_at: datetime | None = None

    def wrote(self, trigger: str, first: int, last: int) -> None:
        """Frames `first..last` were written to the client."""
        tail = self.sent[-1] if self.sent else None
        if tail is not None and tail.trigger == trigger and tail.last + 1 == first:
            self.sent[-1] = tail._replace(last=last)
        else:
            self.sent.append(SentRange(trigger, first, last, timezone.now()))
        if last > self.sent_seq:
            self.sent_seq = last
        progress_writer().schedule(self)

    def wrote_seqs(self, trigger: str, seqs: list[int]) -> None:
        """Frames of these seqs were written, in this order: one range per consecutive run."""
        first = last = seqs[0]
        for seq in seqs[1:]:
            if seq != last + 1:
                self.wrote(trigger, first, last)
                first = seq
            last = seq
        self.wrote(trigger, first, last)

    def ack(self, seq: int) -> None:
        if seq > self.acked:
            self.acked, self.acked_at = seq, timezone.now()
            progress_writer().schedule(self)

    def take(self) -> Progress | None:
        """What the next write carries; its ranges leave this socket until it `failed`."""
        new_ack = self.acked > self.recorded_ack
        if not self.sent and not new_ack and self.sent_seq <= self.recorded_sent:
            return None
        sent, self.sent = self.sent, []
        return Progress(
            self.thread_id,
            self.connection_id,
            sent,
            self.sent_seq,
            self.acked if new_ack else 0,
            self.acked_at or timezone.now(),
        )

    def written(self, record: Progress) -> None:
        self.recorded_sent = max(self.recorded_sent, record.sent_seq)
        self.recorded_ack = max(self.recorded_ack, record.acked_seq)

    def failed(self, record: Progress) -> None:
        self.sent[:0] = record.sent

    async def close(self) -> None:
        """Write this socket's record now: the connection row is closed right after."""
        progress_writer().discard(self)
        await progress_writer().write([self])


# A writer with nothing new for this long writes at once: the end of a burst reaches the
# ledger promptly, while a steady stream is written once per ACK_FLUSH_INTERVAL.
QUIET = 0.05


class ProgressWriter:
    """One per event loop: one statement writes every socket's sends and acks, at most every
    ACK_FLUSH_INTERVAL while they keep coming, and as soon as they pause (a statement per
    socket, or per event, made these writes most of the ledger's cost)."""

    def __init__(self) -> None:
        self.waiting: set[SocketProgress] = set()
        self.task: asyncio.Task[None] | None = None
        self.touched = 0.0

    def schedule(self, socket: SocketProgress) -> None:
        self.waiting.add(socket)
        self.touched = time.monotonic()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def discard(self, socket: SocketProgress) -> None:
        self.waiting.discard(socket)

    async def _run(self) -> None:
        while self.waiting:
            began = time.monotonic()
            interval = conf.current().ack_flush_interval
            quiet = min(QUIET, interval)
            while True:
                await asyncio.sleep(quiet)
                now = time.monotonic()
                if now - self.touched >= quiet or now - began >= interval:
                    break
            sockets, self.waiting = self.waiting, set()
            await self.write(sockets)

    async def write(self, sockets: "set[SocketProgress] | list[SocketProgress]") -> None:
        # A send or ack that arrives while this write runs schedules its socket again.
        batch = [(socket, record) for socket in sockets if (record := socket.take())]
        if not batch:
            return
        try:
            await record_progress([record for _, record in batch])
        except Exception:
            # Retried with the next flush; until then the ledger shows these events unacked
            # (and maybe unsent), which the reconciler treats as such.
            logger.exception("delivery record of %s socket(s) failed", len(batch))
            for socket, record in batch:
                socket.failed(record)
                self.schedule(socket)
            return
        for socket, record in batch:
            socket.written(record)


# The running event loop's progress writer.
progress_writer = PerLoop(ProgressWriter)


class FrameBudget:
    """A token bucket: `RATE_LIMIT_PER_SECOND` frames a second, bursts up to `RATE_LIMIT_BURST`."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self) -> None:
        self.rate = conf.current().rate_limit_per_second
        self.capacity = float(conf.current().rate_limit_burst)
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
