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
from typing import TYPE_CHECKING, Any, Protocol

from channels.db import database_sync_to_async

from delivery import conf, connections
from delivery.fanout import group_name
from delivery.loops import PerLoop
from delivery.protocol import CloseCode

if TYPE_CHECKING:
    from channels.generic.websocket import AsyncWebsocketConsumer as SocketBase
else:
    SocketBase = object

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


class HeartbeatingSocket(SocketBase):
    """The socket's side of the heartbeat: pings, pongs, and closing a silent client as dead.
    Mixed into the consumer, which sets the clocks when it opens."""

    connection_id: uuid.UUID | None
    thread_id: uuid.UUID
    opened: float
    joined: float
    pinged: bool
    last_pong: float
    last_persisted: float

    async def finish(self, code: int | None, reason: str, *, dead: bool = False) -> None:
        raise NotImplementedError

    async def send_json(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    async def on_pong(self) -> None:
        self.last_pong = now = time.monotonic()
        if now - self.last_persisted < conf.timing("HEARTBEAT_PERSIST_INTERVAL"):
            return
        self.last_persisted = now
        if self.connection_id is not None:
            heartbeats().saw(self.connection_id)  # written with the next tick's batch

    async def beat(self, now: float) -> None:
        """App-level heartbeat, once per PING_INTERVAL (delivery/heartbeats.py): a client that
        stops answering pings is closed and marked dead."""
        if now - self.opened < conf.timing("PING_INTERVAL"):
            return  # the first ping comes a full interval after connect, as it always did
        if not self.pinged:
            # The silence clock starts with the first ping: before it the client had nothing
            # to answer, and a server busy with a storm of handshakes answers late.
            self.pinged, self.last_pong = True, now
        if now - self.last_pong > conf.timing("PING_TIMEOUT"):
            heartbeats().discard(self)
            logger.warning("connection %s missed pongs; closing as dead", self.connection_id)
            # Its own task, shielded: a disconnect arriving now must not cut the bookkeeping
            # short, and one slow close must not hold up the other sockets' heartbeats.
            self.expiring = asyncio.create_task(self.expire())
            return
        # Re-joining the group well inside `group_expiry` keeps live sockets in it; only the
        # channels of dead processes expire. A failed refresh is retried on the next beat.
        if now - self.joined > self.channel_layer.group_expiry / 4:
            await self.channel_layer.group_add(group_name(self.thread_id), self.channel_name)
            self.joined = now
        await self.send_json({"type": "ping", "t": time.time()})

    async def expire(self) -> None:
        await asyncio.shield(
            self.finish(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout", dead=True)
        )
        await self.close(code=CloseCode.HEARTBEAT_TIMEOUT)
