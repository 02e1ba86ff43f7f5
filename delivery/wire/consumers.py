"""The thread WebSocket. It parses and authorises; the ledger work goes through services.

Ordering rule: join the group first, then backfill from the ledger, so no event can fall
between the two. Per connection we keep `position`, the highest seq the client has (it said so
with `?after=` or `resume`, or we wrote it). What to write for a resume or a live message is
decided by `delivery.wire.resync`, without I/O; what was actually written is recorded apart
(`SocketProgress`), and acks are checked against that.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from delivery import conf, metrics
from delivery.exceptions import DeliveryError, RateLimited, ThreadNotFound
from delivery.fastpath.frames import group_name
from delivery.fastpath.layers import OUTAGES
from delivery.models import Thread, Trigger
from delivery.wire import ledger_io, resync
from delivery.wire.auth import credential_of, query_params
from delivery.wire.backfill import BackfillingSocket
from delivery.wire.heartbeats import HeartbeatingSocket, heartbeats
from delivery.wire.identity import RevocableSocket
from delivery.wire.pacing import FrameBudget, SocketProgress
from delivery.wire.presence import PresenceSocket, wants_presence
from delivery.wire.protocol import (
    Ack,
    ClientFrame,
    CloseCode,
    FrameError,
    Pong,
    Resume,
    error_frame,
    parse_frame,
    parse_seq,
)
from delivery.wire.revocation import user_group
from delivery.wire.session import Session

logger = logging.getLogger(__name__)

# Gap-filling triggers: a socket writes only what its client does not have yet. A retry or a
# replay is written again even at or below `position`; the client deduplicates it.
FILLS_GAPS = (Trigger.LIVE, Trigger.HEAL)
# After an ack the ledger could not vouch for, bogus acks are refused without a query.
ACK_RECHECK_SECONDS = 1.0


class ThreadConsumer(
    PresenceSocket,
    RevocableSocket,
    HeartbeatingSocket,
    BackfillingSocket,
    AsyncJsonWebsocketConsumer,
):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session: Session | None = None  # set once open; None again while closing
        self.position = 0  # the highest seq the client has
        self.ack_floor, self.ack_checked = 0, 0.0  # what the ledger vouched for, and when
        self.budget = FrameBudget()
        self.wants_presence = False
        # Held by each message's handler and by a catch-up after a lost group: frames go out
        # in the order they were planned.
        self.writing = asyncio.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except OUTAGES as exc:
            # The channel layer failed under the socket (the shard holding this process's
            # inbox went away). Close it as a server error: the client resumes on reconnect.
            logger.warning("channel layer failed under %s: %r", self.scope.get("path"), exc)
            await self.finish(CloseCode.SERVER_ERROR, "channel layer failed")
            with contextlib.suppress(Exception):  # the socket may be closed already
                await self.close(code=CloseCode.SERVER_ERROR)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels closes stale database connections before every handler: a hop to daphne's
        # single database thread for each message, the live path's largest per-message cost.
        # Every ORM call here goes through database_sync_to_async, which does it itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        async with self.writing:
            await handler(message)

    async def connect(self) -> None:
        # Accept first: a close code can only be sent on an open socket.
        await self.accept()
        try:
            await self.open()
        except OUTAGES as exc:
            logger.warning("could not open a connection on %s: %r", self.scope.get("path"), exc)
            await self.refuse(CloseCode.SERVER_ERROR, "server_error", "try again shortly")
        except Exception:
            logger.exception("could not open a connection on %s", self.scope.get("path"))
            await self.refuse(CloseCode.SERVER_ERROR, "server_error", "try again shortly")

    async def open(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            detail = self.scope.get("auth_error", "log in, or connect with ?token=")
            return await self.refuse(CloseCode.UNAUTHENTICATED, "unauthenticated", detail)
        try:
            after = self._query_after()
            thread = await ledger_io.thread_for_user(
                thread_id=self.scope["url_route"]["kwargs"]["thread_id"], user=user
            )
        except FrameError as exc:
            return await self.refuse(CloseCode.BAD_REQUEST, exc.code, exc.detail)
        except ThreadNotFound:
            return await self.refuse(CloseCode.FORBIDDEN, "forbidden", "not your thread")
        try:
            await self.join(thread, user.pk, after)
        except RateLimited as exc:  # SOCKETS_PER_USER, counted as the row is written
            await self.refuse(CloseCode.FLOODING, exc.code, str(exc))

    async def join(self, thread: Thread, user_id: int, after: int | None) -> None:
        groups = (group_name(thread.id), user_group(user_id))  # revocations reach the latter
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        try:
            last, watermark, first_retained = await ledger_io.ledger_position(thread)
            resume_from = watermark if after is None else after
            row = await ledger_io.open_connection(
                thread_id=thread.id,
                user_id=user_id,
                channel_name=self.channel_name,
                resumed_from=resume_from,
                sockets_limit=conf.current().sockets_per_user,
            )
        except Exception:
            # A channel left in the group would fill up and read as a drop on every send.
            for group in groups:
                await self.channel_layer.group_discard(group, self.channel_name)
            raise
        progress = SocketProgress(thread.id, row.id, acked=watermark)
        self.session = Session(thread, row.id, progress, user_id, credential_of(self.scope))
        metrics.live_connections.inc()
        hello = {"thread": str(thread.id), "last_seq": last, "resumed_from": resume_from}
        await self.send_json({"type": "hello", **hello})
        await self.resume(self.session, resume_from, last, first_retained)
        heartbeats().add(self)
        self.close_at_expiry(self.scope.get("credential_expires_at"))
        self.wants_presence = wants_presence(self.scope)
        await self.announce_presence(self.session, "join")

    def _query_after(self) -> int | None:
        values = query_params(self.scope).get("after")
        if not values:
            return None
        try:
            return parse_seq(int(values[0]), "after")
        except ValueError:
            raise FrameError("invalid_field", "'after' must be an integer") from None

    async def refuse(self, code: int, error: str, detail: str) -> None:
        await self.send_json(error_frame(error, detail))
        await self.close(code=code)

    async def ledger_events(self, message: dict[str, Any]) -> None:
        """Events from the thread's group: live ones, or a redelivery (retry, replay)."""
        session = self.session
        if session is None:
            return  # closing: the ledger keeps these for the client's next connect
        try:
            await self.deliver(session, message.get("trigger", Trigger.LIVE), message["events"])
        except Disconnected:
            # The client left between the message and its write; its disconnect follows.
            metrics.sends_after_close.inc()
        except Exception:
            # The client reconnects and resumes from its last seq; the ledger has everything.
            logger.exception("delivery failed on connection %s", session.connection_id)
            await self.finish(CloseCode.SERVER_ERROR, "delivery failed")
            await self.close(code=CloseCode.SERVER_ERROR)

    async def deliver(self, session: Session, trigger: str, frames: list[dict[str, Any]]) -> None:
        if trigger not in FILLS_GAPS:
            await self.write_frames(session, frames, trigger)
            metrics.redeliveries.labels(trigger=trigger).inc(len(frames))
            return
        plan, written = resync.plan_live(position=self.position, frames=frames), 0
        for step in plan.steps:
            if isinstance(step, resync.Heal):
                await self.heal(session, step.last)
            else:
                await self.write_frames(session, step.frames, trigger)
                written += len(step.frames)
        if plan.duplicates:
            metrics.duplicates_dropped.inc(plan.duplicates)
        if trigger == Trigger.HEAL and written:
            metrics.redeliveries.labels(trigger=trigger).inc(written)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None:
            return
        try:
            if not self.budget.take():
                raise FrameError("rate_limited", "too many frames", close=CloseCode.FLOODING)
            if text_data is None:
                raise FrameError("binary_not_supported", "send JSON text frames")
            frame = parse_frame(text_data, max_bytes=conf.current().max_frame_bytes)
            await self.dispatch_frame(session, frame)
        except FrameError as exc:
            metrics.bad_frames.labels(code=exc.code).inc()
            await self.send_json(error_frame(exc.code, exc.detail))
            if exc.close is not None:
                await self.close(code=exc.close)
        except DeliveryError as exc:
            await self.send_json(error_frame(exc.code, str(exc)))
        except Disconnected:
            metrics.sends_after_close.inc()
        except Exception:
            logger.exception("frame handling failed on thread %s", session.thread.id)
            await self.send_json(error_frame("server_error", "the frame could not be handled"))

    async def dispatch_frame(self, session: Session, frame: ClientFrame) -> None:
        if isinstance(frame, Ack):
            await self.check_ack(session, frame.seq)
            session.progress.ack(frame.seq)
        elif isinstance(frame, Resume):
            last, _, first_retained = await ledger_io.ledger_position(session.thread)
            await self.resume(session, frame.after, last, first_retained)
        elif isinstance(frame, Pong):
            await self.on_pong()
        else:
            await ledger_io.post_message(
                thread=session.thread, text=frame.text, client_id=frame.client_id
            )

    async def check_ack(self, session: Session, seq: int) -> None:
        """An ack may cover only what this user was sent: on this socket, or on any of their
        connections as the ledger records it (another tab, an earlier socket)."""
        if seq <= max(session.progress.sent_seq, self.ack_floor):
            return
        now = time.monotonic()
        if now - self.ack_checked >= ACK_RECHECK_SECONDS:
            self.ack_checked = now
            self.ack_floor = await ledger_io.sent_watermark(thread_id=session.thread.id)
            if seq <= self.ack_floor:
                return
        sent = max(session.progress.sent_seq, self.ack_floor)
        raise FrameError("ack_beyond_sent", f"seq {seq} is beyond what was sent ({sent})")

    async def disconnect(self, code: int) -> None:
        await self.finish(code, "client closed" if code < 4000 else "server closed")

    async def finish(self, code: int | None, reason: str, *, dead: bool = False) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        heartbeats().discard(self)
        self.forget_expiry()
        metrics.live_connections.dec()
        await session.progress.close()
        try:
            await self.channel_layer.group_discard(session.group, self.channel_name)
            await self.announce_presence(session, "leave")
            await self.channel_layer.group_discard(session.user_group, self.channel_name)
        except Exception as exc:
            # A layer host is down: the membership expires on its own; the row is closed.
            logger.warning("connection %s left its groups: %r", session.connection_id, exc)
        await ledger_io.close_connection(
            connection_id=session.connection_id, code=code, reason=reason, dead=dead
        )
