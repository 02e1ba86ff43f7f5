"""One heartbeat loop per event loop for every open socket, instead of a task per socket.

A task per socket (its coroutine frames and its sleep timer) was the largest part of what an
idle connection cost beyond plain Channels. Here sockets sit in SLOTS buckets; every
PING_INTERVAL / SLOTS one bucket beats, so each socket beats once per PING_INTERVAL and the
pings and pongs of thousands of sockets are spread evenly, not in bursts. The pongs to persist
are written together, one UPDATE per tick, instead of one per socket (5,000 sockets made about
500 writes a second through daphne's single database thread).

Once per rotation the loop also asks the channel layer which of its hosts lost their keys (a
shard restarted empty). Sockets whose groups lived there join them again on their next beat and
fetch from the ledger what the lost group carried meanwhile, without reconnecting.
"""

import asyncio
import logging
import time
import uuid
import zlib
from typing import TYPE_CHECKING, Any, Protocol

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from delivery import conf, metrics
from delivery.ledger import progress
from delivery.wire.identity import RevocableSocket, recheck
from delivery.wire.loops import PerLoop
from delivery.wire.protocol import CloseCode
from delivery.wire.session import Session

if TYPE_CHECKING:
    from channels.generic.websocket import AsyncJsonWebsocketConsumer as SocketBase
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
        self.lost_at: dict[int, float] = {}  # layer host -> when it was found to have lost its keys

    def lost_since(self, group: str, since: float) -> bool:
        """Whether the layer host of `group` lost its keys after `since` (time.monotonic())."""
        if not self.lost_at:
            return False
        host = get_channel_layer().consistent_hash(group)  # type: ignore[union-attr]
        return self.lost_at.get(host, 0.0) > since

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
            interval = min(conf.current().ping_interval, conf.current().ping_timeout)
            await asyncio.sleep(interval / SLOTS)
            if self.turn == 0:
                await self._look_for_lost_hosts()
            slot, self.turn = self.slots[self.turn], (self.turn + 1) % SLOTS
            await self._tick(slot, time.monotonic())
            await self._recheck(slot)
            await self._persist()

    async def _tick(self, slot: set[Beating], now: float) -> None:
        for socket in list(slot):
            try:
                await socket.beat(now)
            except Disconnected:
                # A ping to a socket whose close is under way: counted, its close follows.
                metrics.sends_after_close.inc()
            except Exception:
                # One socket's failure never stops the heartbeat of the others.
                logger.exception("heartbeat failed for %s", socket.channel_name)

    async def _look_for_lost_hosts(self) -> None:
        layer = get_channel_layer()
        if not hasattr(layer, "lost_hosts"):
            return
        try:
            lost = await layer.lost_hosts()
        except Exception:
            logger.exception("could not look for channel layer hosts that lost their keys")
            return
        for host in lost:
            logger.warning("channel layer host %s lost its groups; sockets join again", host)
            self.lost_at[host] = time.monotonic()

    async def _recheck(self, slot: set[Beating]) -> None:
        """Each socket's credential once per ping interval: a revoked or expired token, a
        deactivated user, a logged-out session closes with 4401 (delivery/wire/identity.py)."""
        try:
            await recheck([s for s in slot if isinstance(s, RevocableSocket)])
        except Exception:
            logger.exception("could not recheck the credentials of %s socket(s)", len(slot))

    async def _persist(self) -> None:
        seen, self.seen = self.seen, set()
        if not seen:
            return
        try:
            await touch_connections(connection_ids=list(seen))
        except Exception:
            # The next pongs are written instead; a row left stale long enough reads as dead.
            logger.exception("could not persist %s heartbeat(s)", len(seen))


touch_connections = database_sync_to_async(progress.touch_connections)
# The running event loop's heartbeats.
heartbeats = PerLoop(Heartbeats)


class HeartbeatingSocket(SocketBase):
    """The socket's side of the heartbeat: pings, pongs, and closing a silent client as dead.
    Mixed into the consumer; the clocks live on its `session`."""

    session: Session | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Tasks the heartbeat starts for this socket, held so they are not collected early.
        self.expiring: asyncio.Task[None] | None = None
        self.catching_up: asyncio.Task[None] | None = None

    async def finish(self, code: int | None, reason: str, *, dead: bool = False) -> None:
        raise NotImplementedError

    async def on_pong(self) -> None:
        session = self.session
        if session is None:
            return
        session.last_pong = now = time.monotonic()
        if now - session.last_persisted < conf.current().heartbeat_persist_interval:
            return
        session.last_persisted = now
        heartbeats().saw(session.connection_id)  # written with the next tick's batch

    async def beat(self, now: float) -> None:
        """App-level heartbeat, once per PING_INTERVAL: a client that stops answering pings
        is closed and marked dead."""
        session = self.session
        if session is None or now - session.opened < conf.current().ping_interval:
            return  # the first ping comes a full interval after connect, as it always did
        if not session.pinged:
            # The silence clock starts with the first ping: before it the client had nothing
            # to answer, and a server busy with a storm of handshakes answers late.
            session.pinged, session.last_pong = True, now
        if now - session.last_pong > conf.current().ping_timeout:
            heartbeats().discard(self)
            logger.warning("connection %s missed pongs; closing as dead", session.connection_id)
            # Its own task, shielded: a disconnect arriving now must not cut the bookkeeping
            # short, and one slow close must not hold up the other sockets' heartbeats.
            self.expiring = asyncio.create_task(self.expire())
            return
        await self.rejoin(session, now)
        await self.send_json({"type": "ping", "t": time.time()})

    async def rejoin(self, session: Session, now: float) -> None:
        """Join the groups again: well inside `group_expiry`, so only the channels of dead
        processes expire; and at once when a group's host lost it, or an earlier join failed,
        then fetching from the ledger what the group carried meanwhile. A failed join is
        retried on the next beat; the ping goes out either way."""
        lost = heartbeats().lost_since(session.group, session.joined)
        lost = lost or heartbeats().lost_since(session.user_group, session.joined)
        due = now - session.joined > self.channel_layer.group_expiry / 4
        if not (lost or session.rejoin or due):
            return
        try:
            await self.channel_layer.group_add(session.group, self.channel_name)
            await self.channel_layer.group_add(session.user_group, self.channel_name)
        except Exception as exc:
            session.rejoin = True
            logger.warning("connection %s could not join: %r", session.connection_id, exc)
            return
        session.joined = now
        if lost or session.rejoin:
            session.rejoin = False
            # Its own task: the ledger read must not hold up the other sockets' heartbeats.
            self.catching_up = asyncio.create_task(self.catch_up(session))

    async def catch_up(self, session: Session) -> None:
        raise NotImplementedError

    async def expire(self) -> None:
        await asyncio.shield(
            self.finish(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout", dead=True)
        )
        await self.close(code=CloseCode.HEARTBEAT_TIMEOUT)
