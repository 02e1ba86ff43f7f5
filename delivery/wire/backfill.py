"""The socket's side of the ledger: what it writes from there rather than from its group.

A resume after connect or a `resume` frame, a heal of a gap the live path left, and a
catch-up after the thread's group was lost with its shard. Every write is recorded on the
session's `SocketProgress`, and `position` (the highest seq the client has) moves with it.
"""

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from autobahn.exception import Disconnected

from delivery import conf, metrics
from delivery.models import Trigger
from delivery.wire import ledger_io, resync
from delivery.wire.session import Session

if TYPE_CHECKING:
    from channels.generic.websocket import AsyncJsonWebsocketConsumer as SocketBase
else:
    SocketBase = object

logger = logging.getLogger(__name__)


class BackfillingSocket(SocketBase):
    session: Session | None
    position: int
    writing: asyncio.Lock

    async def resume(
        self, session: Session, after: int, last: int, first_retained: int | None
    ) -> None:
        """Send the ledger's events after `after` (up to `last`); newer ones come live."""
        plan = resync.plan_resume(after=after, last=last, first_retained=first_retained)
        if plan.resync is not None:
            await self.send_json(plan.resync.frame())
        self.position = plan.after
        await self.send_from_ledger(session, plan.after + 1, plan.last, Trigger.RESUME)

    async def send_from_ledger(self, session: Session, first: int, last: int, trigger: str) -> int:
        chunk, sent = conf.current().backfill_chunk, 0
        while first <= last:
            frames = await ledger_io.events_between(
                session.thread, first, min(last, first + chunk - 1)
            )
            await self.write_frames(session, frames, trigger)
            sent += len(frames)
            first += chunk
        return sent

    async def write_frames(
        self, session: Session, frames: list[dict[str, Any]], trigger: str
    ) -> None:
        """Write frames and record them: one range per run of consecutive seqs."""
        for frame in frames:
            await self.send_json(frame)
        if frames:
            seqs = [frame["seq"] for frame in frames]
            session.progress.wrote_seqs(trigger, seqs)
            self.position = max(self.position, *seqs)
        # Counted once per batch, not per event: this is the live path's inner loop.
        metrics.events_sent.labels(trigger=trigger).inc(len(frames))

    async def heal(self, session: Session, last: int) -> None:
        after = self.position
        sent = await self.send_from_ledger(session, after + 1, last, Trigger.HEAL)
        short = resync.healed_short(after=after, last=last, sent=sent)
        if short is not None:
            await self.send_json(short.frame())
            self.position = max(self.position, last)
        metrics.gaps_healed.inc()
        metrics.gap_events_healed.inc(sent)

    async def catch_up(self, session: Session) -> None:
        """After the thread's group was lost and joined again: what it carried meanwhile."""
        try:
            async with self.writing:
                if self.session is not session:
                    return  # closed meanwhile
                last, _, _ = await ledger_io.ledger_position(session.thread)
                if last > self.position:
                    await self.heal(session, last)
        except Disconnected:
            metrics.sends_after_close.inc()
        except Exception:
            # The next live event heals the gap, or the reconciler redelivers it.
            logger.exception("catch-up failed on connection %s", session.connection_id)
