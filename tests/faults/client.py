"""A WebSocket client that renders like the browser client (delivery/static/delivery/client.js),
and records what it rendered.

It renders each seq once and in order (a repeat is dropped and counted, a jump asks for a
`resume`), acks cumulatively on a timer, answers pings, and on any drop reconnects with
`?after=<highest rendered>`, trying each daphne port in turn.
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import websockets

ACK_INTERVAL = 0.1


@dataclass
class RenderingClient:
    thread_id: str
    token: str
    ports: list[int]
    read_delay: float = 0.0  # seconds to sleep per frame: a slow reader
    rendered: list[int] = field(default_factory=list)
    repeats: int = 0  # frames for a seq already on screen (a redelivery, deduplicated)
    closes: list[int | None] = field(default_factory=list)
    connects: int = 0
    paused: bool = False  # stop reading without closing: a half-open client
    answer_pings: bool = True
    _task: asyncio.Task | None = None

    @property
    def high(self) -> int:
        return self.rendered[-1] if self.rendered else 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def wait_for(self, last_seq: int, timeout: float) -> float:
        """Seconds until `last_seq` is on screen; fails after `timeout`."""
        start = time.monotonic()
        while self.high < last_seq:
            assert time.monotonic() - start < timeout, (
                f"thread {self.thread_id}: rendered up to {self.high} of {last_seq}"
            )
            await asyncio.sleep(0.05)
        return time.monotonic() - start

    async def _run(self) -> None:
        attempt = 0
        while True:
            port = self.ports[attempt % len(self.ports)]
            url = (
                f"ws://127.0.0.1:{port}/ws/threads/{self.thread_id}/"
                f"?token={self.token}&after={self.high}"
            )
            try:
                async with websockets.connect(url, open_timeout=3, max_size=2**22) as ws:
                    self.connects += 1
                    await self._session(ws)
            except websockets.ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)
            except (OSError, websockets.WebSocketException, TimeoutError):
                self.closes.append(None)
            attempt += 1
            await asyncio.sleep(min(0.1 * attempt, 0.5))

    async def _session(self, ws) -> None:
        state = {"socket_seq": 0, "socket_got": 0, "acked": 0, "resume_after": None}
        acker = asyncio.create_task(self._ack_loop(ws, state))
        try:
            async for raw in ws:
                while self.paused:
                    await asyncio.sleep(0.05)
                if self.read_delay:
                    await asyncio.sleep(self.read_delay)
                await self._on_frame(ws, json.loads(raw), state)
        finally:
            acker.cancel()

    async def _on_frame(self, ws, frame: dict, state: dict) -> None:
        kind = frame.get("type")
        if kind == "hello":
            state["socket_seq"] = frame["resumed_from"]
        elif kind == "ping" and self.answer_pings:
            await ws.send(json.dumps({"type": "pong", "t": frame["t"]}))
        elif kind == "event":
            state["socket_seq"] = max(state["socket_seq"], frame["seq"])
            state["socket_got"] = max(state["socket_got"], frame["seq"])
            if frame["seq"] <= state["acked"]:  # redelivered: that ack never reached the ledger
                state["acked"] = frame["seq"] - 1
            await self._render(ws, frame["seq"], state)
        elif kind == "error" and frame.get("code") == "ack_beyond_sent":
            # Its server died before recording what it sent: ack what this socket carried.
            state["socket_seq"] = state["socket_got"]
            state["acked"] = min(state["acked"], state["socket_got"])

    async def _render(self, ws, seq: int, state: dict) -> None:
        if seq <= self.high:
            self.repeats += 1
        elif seq > self.high + 1:
            if state["resume_after"] != self.high:
                state["resume_after"] = self.high
                await ws.send(json.dumps({"type": "resume", "after": self.high}))
        else:
            self.rendered.append(seq)

    async def _ack_loop(self, ws, state: dict) -> None:
        while True:
            await asyncio.sleep(ACK_INTERVAL)
            ackable = min(self.high, state["socket_seq"])
            if ackable > state["acked"] and not self.paused:
                state["acked"] = ackable
                await ws.send(json.dumps({"type": "ack", "seq": ackable}))


async def send_message(client: RenderingClient, text: str) -> None:
    """The user's turn, over its own short-lived socket (the rendering socket keeps reading)."""
    port = client.ports[0]
    url = f"ws://127.0.0.1:{port}/ws/threads/{client.thread_id}/?token={client.token}&after=0"
    async with websockets.connect(url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "message", "text": text, "client_id": text}))
        await asyncio.sleep(0.3)
