"""Redundant frames in a burst over the channel layer's capacity.

A burst of EVENTS single emits to THREADS sockets, with channels_redis's default capacity
(100 messages per channel) so the layer drops: every drop is healed from the ledger or
redelivered, and this counts how many frames the clients received for a seq they already had.
Each one is deduplicated by the client, but costs bandwidth and daphne time. A Celery worker
runs the fast path's redeliveries, as in production.
"""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import websockets

from bench.report import Table, publish
from bench.stack import BenchStack

EVENTS, THREADS, AGENTS, CAPACITY = 5_000, 10, 4, 100
TIMEOUT = 180.0


@dataclass
class Renderer:
    """Renders each seq once, in order, like the browser client (delivery/static/delivery/);
    counts the repeats."""

    url: str
    rendered: int = 0
    frames: int = 0
    repeats: int = 0
    resumed: set[int] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        async with websockets.connect(self.url, max_queue=None, max_size=2**24) as ws:
            acker = asyncio.create_task(self._ack(ws, stop))
            try:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
                    except TimeoutError:
                        continue
                    await self._frame(ws, json.loads(raw))
            finally:
                acker.cancel()

    async def _frame(self, ws, frame: dict) -> None:  # type: ignore[no-untyped-def]
        if frame.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong", "t": frame.get("t")}))
        if frame.get("type") != "event":
            return
        self.frames += 1
        seq = frame["seq"]
        if seq <= self.rendered:
            self.repeats += 1
        elif seq == self.rendered + 1:
            self.rendered = seq
        elif self.rendered not in self.resumed:
            self.resumed.add(self.rendered)
            await ws.send(json.dumps({"type": "resume", "after": self.rendered}))

    async def _ack(self, ws, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        acked = 0
        while not stop.is_set():
            await asyncio.sleep(0.1)
            if self.rendered > acked:
                acked = self.rendered
                await ws.send(json.dumps({"type": "ack", "seq": acked}))


def _threads() -> tuple[list[str], str]:
    from django.contrib.auth.models import User

    from delivery.models import Thread
    from delivery.wire.tokens import issue_token

    user, _ = User.objects.get_or_create(username="bench-burst")
    threads = [str(Thread.objects.create(owner=user, title="burst").pk) for _ in range(THREADS)]
    return threads, issue_token(user=user, label="bench burst")


def _burst(threads: list[str]) -> None:
    from django.db import connection

    from delivery import emit

    def agent(k: int) -> None:
        try:
            for i in range(k, EVENTS, AGENTS):
                emit(threads[i % THREADS], "burst", {"i": i, "text": "x" * 200})
        finally:
            connection.close()

    with ThreadPoolExecutor(AGENTS) as pool:
        list(pool.map(agent, range(AGENTS)))


def _all_acked(threads: list[str]) -> bool:
    from django.db.models import F

    from delivery.models import Thread

    return not Thread.objects.filter(pk__in=threads, acked_seq__lt=F("last_seq")).exists()


async def _measure(port: int, threads: list[str], token: str) -> tuple[list[Renderer], float]:
    renderers = [
        Renderer(f"ws://127.0.0.1:{port}/ws/threads/{t}/?token={token}&after=0") for t in threads
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in renderers]
    await asyncio.sleep(1.0)
    began = time.monotonic()
    await asyncio.to_thread(_burst, threads)
    deadline = began + TIMEOUT
    while sum(r.rendered for r in renderers) < EVENTS or not await asyncio.to_thread(
        _all_acked, threads
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"burst not delivered: {[r.rendered for r in renderers]}")
        await asyncio.sleep(0.1)
    took = time.monotonic() - began
    await asyncio.sleep(2.0)  # a late redelivery would still arrive and be counted
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return renderers, took


def _drops() -> float:
    from delivery import metrics

    return float(metrics.events_dropped.labels(cause="channel_full")._value.get())


class Capacity:
    """channels_redis enforces `capacity` in the sending process: this one (the agents'
    publisher) sends with the burst's capacity while the block runs."""

    def __enter__(self) -> None:
        from channels.layers import channel_layers
        from django.conf import settings

        from delivery.fastpath.publisher import publisher

        self.config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
        self.saved = self.config["capacity"]
        self.config["capacity"] = CAPACITY
        channel_layers.backends = {}
        publisher.reset_layer()

    def __exit__(self, *exc: object) -> None:
        from channels.layers import channel_layers

        from delivery.fastpath.publisher import publisher

        self.config["capacity"] = self.saved
        channel_layers.backends = {}
        publisher.reset_layer()


def run(stack: BenchStack) -> Table:
    server = stack.daphne("config.asgi:application", CHANNELS_CAPACITY=str(CAPACITY))
    worker = stack.worker(CHANNELS_CAPACITY=str(CAPACITY))
    threads, token = _threads()
    dropped = _drops()
    with Capacity():
        renderers, took = asyncio.run(_measure(server.port, threads, token))
    dropped = _drops() - dropped
    stack.stop(server)
    stack.processes.remove(worker)
    worker.terminate()
    worker.wait(10)
    frames = sum(r.frames for r in renderers)
    repeats = sum(r.repeats for r in renderers)
    table = Table(
        "Burst over capacity: redundant frames",
        ["events", "sockets", "channel deliveries dropped", "frames received",
         "redundant frames", "redundant per event", "delivered and acked in s"],
    )  # fmt: skip
    table.add(EVENTS, THREADS, int(dropped), frames, repeats, f"{repeats / EVENTS:.1%}", took)
    table.notes.append(
        f"{AGENTS} agents emitting one event per emit as fast as they can, channel capacity "
        f"{CAPACITY} (channels_redis's default); a redundant frame is one for a seq the client "
        'had already rendered; drops are websocket_events_dropped_total{cause="channel_full"} '
        "of the emitting process"
    )
    return publish(table)
