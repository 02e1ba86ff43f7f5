"""One heartbeat loop per event loop for every open socket, instead of a task per socket.

A task per socket (its coroutine frames and its sleep timer) was the largest part of what an
idle connection cost beyond plain Channels. Here sockets sit in SLOTS buckets; every
PING_INTERVAL / SLOTS one bucket beats, so each socket beats once per PING_INTERVAL and the
pings and pongs of thousands of sockets are spread evenly, not in bursts. The pongs to persist
are written together, one UPDATE per tick, instead of one per socket (5,000 sockets made about
500 writes a second through daphne's single database thread).
"""

import asyncio
import logging
import time
import uuid
import zlib
from typing import Protocol

from channels.db import database_sync_to_async

from delivery import conf, connections
from delivery.loops import PerLoop

logger = logging.getLogger(__name__)

SLOTS = 10


class Beating(Protocol):
    channel_name: str

    async def beat(self, now: float) -> None: ...


class Heartbeats:
    def __init__(self) -> None:
        self.slots: list[set[Beating]] = [set() for _ in range(SLOTS)]
        self.turn = 0
        self.task: asyncio.Task[None] | None = None
        self.seen: set[uuid.UUID] = set()  # connections whose pong is to be persisted

    def saw(self, connection_id: uuid.UUID) -> None:
        """Persist this connection's heartbeat with the next tick's write."""
        self.seen.add(connection_id)

    def add(self, socket: Beating) -> None:
        self.slots[zlib.crc32(socket.channel_name.encode()) % SLOTS].add(socket)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def discard(self, socket: Beating) -> None:
        for slot in self.slots:
            slot.discard(socket)

    def __len__(self) -> int:
        return sum(len(slot) for slot in self.slots)

    async def _run(self) -> None:
        while len(self):
            interval = min(conf.timing("PING_INTERVAL"), conf.timing("PING_TIMEOUT"))
            await asyncio.sleep(interval / SLOTS)
            slot, self.turn = self.slots[self.turn], (self.turn + 1) % SLOTS
            now = time.monotonic()
            for socket in list(slot):
                try:
                    await socket.beat(now)
                except Exception:
                    # One socket's failure (a send on a closing socket, say) never stops the
                    # heartbeat of the others.
                    logger.exception("heartbeat failed for %s", socket.channel_name)
            await self._persist()

    async def _persist(self) -> None:
        seen, self.seen = self.seen, set()
        if not seen:
            return
        try:
            await touch_connections(connection_ids=list(seen))
        except Exception:
            # The next pongs are written instead; a row left stale long enough reads as dead.
            logger.exception("could not persist %s heartbeat(s)", len(seen))


touch_connections = database_sync_to_async(connections.touch_connections)
# The running event loop's heartbeats.
heartbeats = PerLoop(Heartbeats)
