"""A Hypothesis-driven fuzzer sends thousands of hostile frames to a real daphne.

Every frame gets the error frame (and, where documented, the close) that the protocol owes it,
the server never falls over, and a control client on another user's thread keeps rendering.
"""

import asyncio
import json
import time
import urllib.request

import pytest
import websockets

from tests.delivery.wsclient import db, token_for
from tests.factories import ThreadFactory, UserFactory
from tests.faults.hostile_frames import expected_error, hostile_frames
from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

FRAMES, FUZZERS = 5000, 3
SENTINEL = "{"  # bad_json: proves a valid frame before it drew no error
CLOSES = {4413, 4429}


class Fuzzer:
    def __init__(self, url: str) -> None:
        self.url, self.ws = url, None
        self.sent = self.errors = self.reconnects = 0
        self.closes: list[int] = []
        self.mismatches: list[tuple] = []

    async def run(self, frames: list[str | bytes]) -> None:
        for frame in frames:
            if self.ws is None:
                self.ws = await websockets.connect(self.url, open_timeout=10, max_size=2**22)
                self.reconnects += 1
            await self.one(frame)
        if self.ws is not None:
            await self.ws.close()

    async def one(self, frame: str | bytes) -> None:
        code, close = expected_error(frame)
        try:
            await self.ws.send(frame)
            self.sent += 1
            if code is None:
                await self.ws.send(SENTINEL)
                code = "bad_json"
            got = await self.next_error()
            self.errors += 1
            if got == "rate_limited":
                close = 4429
            elif got != code:
                self.mismatches.append((repr(frame)[:80], code, got))
            if close is not None:
                await self.expect_close(close)
        except websockets.ConnectionClosed as closed:
            self.mismatches.append((repr(frame)[:80], code, closed.rcvd and closed.rcvd.code))
            self.ws = None

    async def next_error(self) -> str:
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=10))
            if reply["type"] == "error":
                return reply["code"]

    async def expect_close(self, code: int) -> None:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout=10)
        except websockets.ConnectionClosed as closed:
            got = closed.rcvd.code if closed.rcvd else None
            self.closes.append(got)
            if got != code:
                self.mismatches.append(("close", code, got))
        self.ws = None


async def _flood(url: str) -> int | None:
    """Frames as fast as the socket takes them: the token bucket must close it with 4429."""
    async with websockets.connect(url, open_timeout=10) as ws:
        try:
            for _ in range(2000):
                await ws.send(json.dumps({"type": "pong", "t": 0}))
            while True:
                await asyncio.wait_for(ws.recv(), timeout=10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def _live(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/live", timeout=10) as r:
        return r.status


async def test_hostile_frames_get_documented_answers_and_hurt_nobody(stack, user, figures):
    port = stack.start_daphne()
    stack.start_worker()
    frames = await asyncio.to_thread(hostile_frames, FRAMES)
    control = await clients_for(user, 1, [port])
    hostile = await db(UserFactory)()
    threads = await db(lambda: [ThreadFactory(owner=hostile) for _ in range(FUZZERS)])()
    token = await token_for(hostile)
    urls = [f"ws://127.0.0.1:{port}/ws/threads/{t.pk}/?token={token}" for t in threads]
    fuzzers = [Fuzzer(url) for url in urls]
    start = time.monotonic()
    agent = asyncio.create_task(emit_round_robin([control[0].thread_id], 100, pause=0.05))
    await asyncio.wait_for(
        asyncio.gather(*(f.run(frames[i::FUZZERS]) for i, f in enumerate(fuzzers))), timeout=150
    )
    flood_close = await _flood(urls[0])
    fuzzed = time.monotonic() - start
    await agent
    assert stack.daphnes["web"][0].poll() is None and await asyncio.to_thread(_live, port) == 200
    seconds = await full_delivery(control, timeout=30)
    sent = sum(f.sent for f in fuzzers)
    closes = sorted({c for f in fuzzers for c in f.closes})
    outcome = await finish(
        control, figures, seconds=seconds, port=port, scenario="8. hostile input",
        injected=f"{sent} Hypothesis frames on {FUZZERS} sockets in {fuzzed:.0f}s (bad JSON, "
        "deep JSON, huge numbers, wrong types, binary, oversize) plus a 2,000-frame flood",
        notes=f"{sum(f.errors for f in fuzzers)} error frames, closes {closes}, flood closed "
        f"{flood_close}; control thread rendered everything",
    )  # fmt: skip
    assert sent >= FRAMES
    assert [m for f in fuzzers for m in f.mismatches] == []
    assert set(closes) <= CLOSES and flood_close == 4429
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
