"""Thousands of idle WebSocket clients in one asyncio process.

Each client waits for its `hello`, then only answers Ledgerline's app-level pings with a pong
(a string splice, no JSON parsing, so the client stays cheap). daphne's own protocol pings are
answered by `websockets` itself; the client sends no protocol pings of its own.
"""

import asyncio
import contextlib

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HELLO = '{"type": "hello"'
PING = '{"type": "ping"'
PONG = '{"type": "pong"'


class FleetError(RuntimeError):
    pass


class IdleFleet:
    """Holds idle connections; opens them at most `concurrency` handshakes at a time."""

    def __init__(self, *, concurrency: int = 20) -> None:
        self.target = 0
        self.gate = asyncio.Semaphore(concurrency)
        self.sockets: list[ClientConnection] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.greeted = 0
        self.closed_early = 0
        self.pongs = 0
        self.failure: BaseException | None = None
        self.ready = asyncio.Event()
        self.closing = False

    async def open(self, urls: list[str], timeout: float) -> None:
        """Adds a client per URL; returns once every client has its `hello`, or raises."""
        self.target += len(urls)
        self.ready.clear()
        self.tasks += [asyncio.create_task(self._hold(url)) for url in urls]
        await asyncio.wait_for(self.ready.wait(), timeout)
        if self.failure is not None:
            raise FleetError(f"a client failed to open: {self.failure!r}") from self.failure

    @property
    def open_count(self) -> int:
        return self.greeted - self.closed_early

    def check(self) -> None:
        if self.open_count != self.target:
            raise FleetError(f"{self.target - self.open_count} clients lost their connection")

    async def _hold(self, url: str) -> None:
        try:
            async with self.gate:
                ws = await connect(url, ping_interval=None, compression=None, proxy=None)
                self.sockets.append(ws)
                first = await ws.recv()
            if not isinstance(first, str) or not first.startswith(HELLO):
                raise FleetError(f"expected hello, got {first!r:.200}")
            self._greeted()
            async for frame in ws:
                if isinstance(frame, str) and frame.startswith(PING):
                    await ws.send(PONG + frame[len(PING) :])
                    self.pongs += 1
        except ConnectionClosed:
            if not self.closing:
                self.closed_early += 1
        except Exception as exc:
            if not self.closing and self.failure is None:
                self.failure = exc
                self.ready.set()

    def _greeted(self) -> None:
        self.greeted += 1
        if self.greeted == self.target:
            self.ready.set()

    async def close(self) -> None:
        """Drops every socket without a closing handshake (the server is already gone)."""
        self.closing = True
        for ws in self.sockets:
            ws.transport.abort()
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)
