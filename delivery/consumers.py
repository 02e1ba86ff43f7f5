"""The thread WebSocket. It parses and authorises; the ledger work goes through services.

Ordering rule: join the group first, then backfill from the ledger, so no event can fall
between the two. Per connection we keep `position`, the highest seq the client has (it said so
with `?after=` or `resume`, or we wrote it): a live event at or below it is a duplicate, one
above `position + 1` reveals a gap that is healed from the ledger before it is sent. What was
actually written is recorded apart from it (`SocketProgress`): acks are checked against that.
"""

import json
import logging
import time
import uuid
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from delivery import conf, connections, metrics, selectors, services
from delivery.auth import query_params
from delivery.exceptions import DeliveryError, ThreadNotFound
from delivery.fanout import group_name
from delivery.heartbeats import HeartbeatingSocket, heartbeats
from delivery.models import Thread, Trigger
from delivery.pacing import FrameBudget, SocketProgress
from delivery.protocol import (
    Ack,
    CloseCode,
    FrameError,
    Message,
    Pong,
    Resume,
    error_frame,
    event_frame,
    parse_frame,
    parse_seq,
)

logger = logging.getLogger(__name__)

thread_for_user = database_sync_to_async(selectors.thread_for_user)
open_connection = database_sync_to_async(connections.open_connection)
close_connection = database_sync_to_async(connections.close_connection)
sent_watermark = database_sync_to_async(connections.sent_watermark)
post_message = database_sync_to_async(services.post_message)

# Gap-filling triggers: a socket writes only what its client does not have yet. A retry or a
# replay is written again even at or below `position`; the client deduplicates it.
FILLS_GAPS = (Trigger.LIVE, Trigger.HEAL)
# After an ack the ledger could not vouch for, bogus acks are refused without a query.
ACK_RECHECK_SECONDS = 1.0


@database_sync_to_async
def _ledger_position(thread: Thread) -> tuple[int, int, int | None]:
    last, watermark = selectors.ledger_position(thread_id=thread.id)
    first = selectors.first_retained_seq(thread_id=thread.id, since=thread.created_at)
    return last, watermark, first


@database_sync_to_async
def _events_between(thread: Thread, first: int, last: int) -> list[dict[str, Any]]:
    events = selectors.events_between(
        thread_id=thread.id, first=first, last=last, since=thread.created_at
    )
    return [event_frame(event) for event in events]


class ThreadConsumer(HeartbeatingSocket, AsyncWebsocketConsumer):
    thread_id: uuid.UUID
    connection_id: uuid.UUID | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels closes stale database connections before every handler: a hop to daphne's
        # single database thread for each message, the live path's largest per-message cost.
        # Every ORM call here goes through database_sync_to_async, which does it itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        # Accept first: a close code can only be sent on an open socket.
        await self.accept()
        self.position = 0
        try:
            await self.open()
        except Exception:
            logger.exception("could not open a connection on %s", self.scope.get("path"))
            if hasattr(self, "thread_id"):
                # A channel left in the group would fill up and read as a drop on every send.
                group = group_name(self.thread_id)
                await self.channel_layer.group_discard(group, self.channel_name)
            await self.refuse(CloseCode.SERVER_ERROR, "server_error", "try again shortly")

    async def open(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            detail = self.scope.get("auth_error", "log in, or connect with ?token=")
            return await self.refuse(CloseCode.UNAUTHENTICATED, "unauthenticated", detail)
        try:
            after = self._query_after()
            thread = await thread_for_user(
                thread_id=self.scope["url_route"]["kwargs"]["thread_id"], user=user
            )
        except FrameError as exc:
            return await self.refuse(CloseCode.BAD_REQUEST, exc.code, exc.detail)
        except ThreadNotFound:
            return await self.refuse(CloseCode.FORBIDDEN, "forbidden", "not your thread")
        self.thread, self.thread_id = thread, thread.id
        await self.channel_layer.group_add(group_name(self.thread_id), self.channel_name)
        last, watermark, first_retained = await _ledger_position(self.thread)
        resume_from = watermark if after is None else after
        self.connection_id = (
            await open_connection(
                thread_id=self.thread_id,
                user_id=user.pk,
                channel_name=self.channel_name,
                resumed_from=resume_from,
            )
        ).id
        metrics.live_connections.inc()
        self.progress = SocketProgress(self.thread_id, self.connection_id, acked=watermark)
        self.ack_floor, self.ack_checked = 0, 0.0  # what the ledger vouched for, and when
        self.budget = FrameBudget()
        self.last_pong = self.last_persisted = time.monotonic()
        await self.send_json(
            {
                "type": "hello",
                "thread": str(self.thread_id),
                "last_seq": last,
                "resumed_from": resume_from,
            }
        )
        await self.resume(resume_from, last, first_retained)
        self.joined = self.opened = time.monotonic()
        self.pinged = False
        heartbeats().add(self)

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

    async def resume(self, after: int, last: int, first_retained: int | None) -> None:
        """Send the ledger's events after `after` (up to `last`); newer ones come live."""
        if after > last:
            await self.send_json(
                {"type": "resync", "from": last, "to": after, "reason": "ahead_of_ledger"}
            )
            after = last
        elif (first_retained or last + 1) > after + 1:
            first_retained = first_retained or last + 1  # nothing retained at all
            await self.send_json(
                {"type": "resync", "from": after, "to": first_retained - 1, "reason": "retention"}
            )
            after = first_retained - 1
        self.position = after
        await self.send_from_ledger(after + 1, last, Trigger.RESUME)

    async def send_from_ledger(self, first: int, last: int, trigger: str) -> int:
        chunk, sent = conf.limit("BACKFILL_CHUNK"), 0
        while first <= last:
            frames = await _events_between(self.thread, first, min(last, first + chunk - 1))
            await self.write_frames(frames, trigger)
            sent += len(frames)
            first += chunk
        return sent

    async def write_frames(self, frames: list[dict[str, Any]], trigger: str) -> None:
        """Write frames and record them: one range per run of consecutive seqs."""
        run_first = run_last = None
        for frame in frames:
            await self.send(text_data=json.dumps(frame))
            seq = frame["seq"]
            if run_last is not None and seq != run_last + 1:
                self.progress.wrote(trigger, run_first, run_last)  # type: ignore[arg-type]
                run_first = None
            run_first = seq if run_first is None else run_first
            run_last = seq
            self.position = max(self.position, seq)
        if run_last is not None:
            self.progress.wrote(trigger, run_first, run_last)  # type: ignore[arg-type]
        # Counted once per batch, not per event: this is the live path's inner loop.
        metrics.events_sent.labels(trigger=trigger).inc(len(frames))

    async def ledger_events(self, message: dict[str, Any]) -> None:
        """Events from the thread's group: live ones, or a redelivery (retry, replay)."""
        if self.connection_id is None:
            return  # closing: the ledger keeps these for the client's next connect
        try:
            await self.deliver(message)
        except Exception:
            # The client reconnects and resumes from its last seq; the ledger has everything.
            logger.exception("delivery failed on connection %s", self.connection_id)
            await self.finish(CloseCode.SERVER_ERROR, "delivery failed")
            await self.close(code=CloseCode.SERVER_ERROR)

    async def deliver(self, message: dict[str, Any]) -> None:
        trigger = message.get("trigger", Trigger.LIVE)
        frames = message["events"]
        if trigger not in FILLS_GAPS:
            await self.write_frames(frames, trigger)
            metrics.redeliveries.labels(trigger=trigger).inc(len(frames))
            return
        fresh: list[dict[str, Any]] = []
        duplicates = 0
        for frame in frames:
            seq = frame["seq"]
            expected = fresh[-1]["seq"] + 1 if fresh else self.position + 1
            if seq < expected:
                duplicates += 1
                continue
            if seq > expected:
                await self.write_frames(fresh, trigger)
                fresh = []
                await self.heal(seq - 1)
            fresh.append(frame)
        await self.write_frames(fresh, trigger)
        if duplicates:
            metrics.duplicates_dropped.inc(duplicates)
        if trigger == Trigger.HEAL and fresh:
            metrics.redeliveries.labels(trigger=trigger).inc(len(fresh))

    async def heal(self, last: int) -> None:
        first = self.position + 1
        sent = await self.send_from_ledger(first, last, Trigger.HEAL)
        if sent < last - first + 1:
            await self.send_json(
                {"type": "resync", "from": first - 1, "to": last, "reason": "retention"}
            )
            self.position = max(self.position, last)
        metrics.gaps_healed.inc()
        metrics.gap_events_healed.inc(sent)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.connection_id is None:
            return
        try:
            if not self.budget.take():
                raise FrameError("rate_limited", "too many frames", close=CloseCode.FLOODING)
            if text_data is None:
                raise FrameError("binary_not_supported", "send JSON text frames")
            await self.dispatch_frame(
                parse_frame(text_data, max_bytes=conf.limit("MAX_FRAME_BYTES"))
            )
        except FrameError as exc:
            metrics.bad_frames.labels(code=exc.code).inc()
            await self.send_json(error_frame(exc.code, exc.detail))
            if exc.close is not None:
                await self.close(code=exc.close)
        except DeliveryError as exc:
            await self.send_json(error_frame(exc.code, str(exc)))
        except Exception:
            logger.exception("frame handling failed on thread %s", self.thread_id)
            await self.send_json(error_frame("server_error", "the frame could not be handled"))

    async def dispatch_frame(self, frame: Ack | Resume | Pong | Message) -> None:
        if isinstance(frame, Ack):
            await self.check_ack(frame.seq)
            self.progress.ack(frame.seq)
        elif isinstance(frame, Resume):
            last, _, first_retained = await _ledger_position(self.thread)
            await self.resume(frame.after, last, first_retained)
        elif isinstance(frame, Pong):
            await self.on_pong()
        else:
            await post_message(thread=self.thread, text=frame.text, client_id=frame.client_id)

    async def check_ack(self, seq: int) -> None:
        """An ack may cover only what this user was sent: on this socket, or on any of their
        connections as the ledger records it (another tab, an earlier socket)."""
        if seq <= max(self.progress.sent_seq, self.ack_floor):
            return
        now = time.monotonic()
        if now - self.ack_checked >= ACK_RECHECK_SECONDS:
            self.ack_checked = now
            self.ack_floor = await sent_watermark(thread_id=self.thread_id)
            if seq <= self.ack_floor:
                return
        sent = max(self.progress.sent_seq, self.ack_floor)
        raise FrameError("ack_beyond_sent", f"seq {seq} is beyond what was sent ({sent})")

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def disconnect(self, code: int) -> None:
        await self.finish(code, "client closed" if code < 4000 else "server closed")

    async def finish(self, code: int | None, reason: str, *, dead: bool = False) -> None:
        if self.connection_id is None:
            return
        connection_id, self.connection_id = self.connection_id, None
        heartbeats().discard(self)
        metrics.live_connections.dec()
        await self.progress.close()
        await self.channel_layer.group_discard(group_name(self.thread_id), self.channel_name)
        await close_connection(connection_id=connection_id, code=code, reason=reason, dead=dead)
