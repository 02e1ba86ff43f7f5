"""WebSocket clients that play the browser: one socket per thread, every event timed on arrival.

A Ledgerline client also does what the browser client (`delivery/static/delivery/client.js`)
does: it drops duplicates, acks cumulatively every ACK_INTERVAL (100 ms) and answers pings. A
baseline client only counts.
Latency is arrival time minus the `t` the emitter put in the payload (one machine, one clock).
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import websockets

ACK_INTERVAL = 0.1


@dataclass
class Client:
    url: str
    acks: bool
    seq: int = 0  # the highest contiguous seq rendered
    events: int = 0
    latencies: list[float] = field(default_factory=list)
    last_arrival: float = 0.0
    _ws: websockets.ClientConnection | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self) -> None:
        self._ws = await websockets.connect(self.url, max_queue=None, ping_interval=None)
        hello = json.loads(await self._ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello from {self.url}, got {hello}")
        self.seq = int(hello.get("resumed_from", 0))
        self._tasks.append(asyncio.create_task(self._read()))
        if self.acks:
            self._tasks.append(asyncio.create_task(self._ack_loop()))

    def reset(self) -> None:
        self.events, self.latencies = 0, []

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            now = time.time()
            frame = json.loads(message)
            kind = frame.get("type")
            if kind == "event":
                if self.acks and frame["seq"] <= self.seq:
                    continue  # a duplicate: rendered once only
                self.seq = frame["seq"]
                self.events += 1
                self.last_arrival = now
                self.latencies.append(now - frame["payload"]["t"])
            elif kind == "ping":
                await self._ws.send(json.dumps({"type": "pong", "t": frame.get("t")}))

    async def _ack_loop(self) -> None:
        assert self._ws is not None
        acked = self.seq
        while True:
            await asyncio.sleep(ACK_INTERVAL)
            if self.seq > acked:
                acked = self.seq
                await self._ws.send(json.dumps({"type": "ack", "seq": acked}))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task
        if self._ws is not None:
            await self._ws.close()


async def open_all(urls: list[str], *, acks: bool, concurrency: int = 50) -> list[Client]:
    gate = asyncio.Semaphore(concurrency)
    clients = [Client(url, acks=acks) for url in urls]

    async def open_one(client: Client) -> None:
        async with gate:
            await client.open()

    await asyncio.gather(*(open_one(c) for c in clients))
    return clients


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
