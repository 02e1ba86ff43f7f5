"""Ledgerline against plain Channels on the live path: one run, and the systems it runs on.

A run opens one WebSocket per thread on the system's daphne, starts an emitter process
(bench/emitter.py), and waits until every client has every event (baseline) or, for Ledgerline,
until the ledger shows every event acknowledged: throughput counts delivered *and* acked events.
"""

import asyncio
import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from asgiref.sync import sync_to_async

from bench.clients import close_all, open_all
from bench.stack import ROOT, BenchStack, Server

LEDGER, PLAIN = "ledger", "plain"
PAYLOAD_BYTES = 200
RUN_TIMEOUT = 120.0


@dataclass
class RunResult:
    events: int
    seconds: float  # go to the last event delivered (and, for Ledgerline, acked)
    delivered_seconds: float  # go to the last event's arrival at a client
    latencies: list[float] = field(repr=False)
    calls: list[float] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per component
    emit_seconds: float = 0.0  # go to the emitter's last call returning

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else math.nan


class System:
    """One system under test: its daphne, its threads and its clients' URLs."""

    def __init__(self, name: str, server: Server, urls: dict[str, str]) -> None:
        self.name, self.server, self.urls = name, server, urls

    @property
    def acks(self) -> bool:
        return self.name == LEDGER


def start_systems(stack: BenchStack, threads: int) -> dict[str, System]:
    """Both daphne servers, and `threads` conversations on each (owned by one bench user)."""
    from django.contrib.auth.models import User

    from delivery.models import Thread
    from delivery.wire.tokens import issue_token

    user, _ = User.objects.get_or_create(username="bench")
    token = issue_token(user=user, label="bench")
    rows = Thread.objects.bulk_create(
        [Thread(owner=user, title=f"bench {i}") for i in range(threads)]
    )
    ledger, plain = (
        stack.daphne("config.asgi:application"),
        stack.daphne("bench.plain_app:application"),
    )
    return {
        LEDGER: System(LEDGER, ledger, {
            str(t.id): f"ws://127.0.0.1:{ledger.port}/ws/threads/{t.id}/?token={token}"
            for t in rows
        }),
        PLAIN: System(PLAIN, plain, {
            str(t.id): f"ws://127.0.0.1:{plain.port}/plain/{t.id}/" for t in rows
        }),
    }  # fmt: skip


async def run(
    stack: BenchStack, system: System, *, events: int, batch: int, workers: int,
    rate: float | None = None,
) -> RunResult:  # fmt: skip
    clients = await open_all(list(system.urls.values()), acks=system.acks)
    try:
        spec = {
            "system": system.name, "threads": list(system.urls), "events": events,
            "batch": batch, "workers": workers, "rate": rate, "payload_bytes": PAYLOAD_BYTES,
        }  # fmt: skip
        emitter = await _start_emitter(stack, spec)
        meter = await sync_to_async(CpuMeter)(stack, system.server, emitter.pid)
        go = time.time()
        emitter.stdin.write(b"go\n")  # type: ignore[union-attr]
        await emitter.stdin.drain()  # type: ignore[union-attr]
        sent = events // batch * batch
        await _until(lambda: sum(c.events for c in clients) >= sent, "every event delivered")
        delivered = max(c.last_arrival for c in clients)
        finished = await _acked(system) if system.acks else delivered
        cpu = await sync_to_async(meter.used)()
        result = json.loads(await emitter.stdout.readline())  # type: ignore[union-attr]
        await emitter.wait()
        return RunResult(
            events=sent, seconds=finished - go, delivered_seconds=delivered - go,
            latencies=[lat for c in clients for lat in c.latencies], calls=result["calls"],
            cpu={**cpu, "emitter": result["cpu"]}, emit_seconds=result["finished"] - go,
        )  # fmt: skip
    finally:
        await close_all(clients)


class CpuMeter:
    """CPU seconds each part of the system used since construction: daphne, the emitter,
    PostgreSQL (every backend), the private Redis, and the clients (this process)."""

    def __init__(self, stack: BenchStack, server: Server, emitter_pid: int) -> None:
        self.parts = {
            "daphne": [psutil.Process(server.pid)],
            "emitter": [psutil.Process(emitter_pid)],
            "postgres": _postmasters(),
            "redis": [psutil.Process(stack.redis_pid)],
            "clients": [psutil.Process()],
        }
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        from django.db import connection

        with connection.cursor() as cursor:  # the ledger's write-ahead log, in bytes
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
            totals = {"wal_bytes": float(cursor.fetchone()[0])}
        for name, processes in self.parts.items():
            total = 0.0
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    total += _cpu(process)
                    if name == "postgres":  # backends come and go: count them all
                        times = process.cpu_times()
                        total += times.children_user + times.children_system
                        total += sum(_cpu(child) for child in process.children())
            totals[name] = total
        return totals

    def used(self) -> dict[str, float]:
        end = self._read()
        return {name: end[name] - self.start[name] for name in end}


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _postmasters() -> list[psutil.Process]:
    """PostgreSQL's main processes: a backend's CPU is the postmaster's child time once it exits."""
    found = []
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            parent = process.parent()
            if process.info["name"] == "postgres" and (
                parent is None or parent.name() != "postgres"
            ):
                found.append(process)
    return found


async def _start_emitter(stack: BenchStack, spec: dict[str, Any]) -> asyncio.subprocess.Process:
    emitter = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.emitter", cwd=ROOT, env=stack.env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26,
    )  # fmt: skip
    emitter.stdin.write(json.dumps(spec).encode() + b"\n")  # type: ignore[union-attr]
    await emitter.stdin.drain()  # type: ignore[union-attr]
    ready = await asyncio.wait_for(emitter.stdout.readline(), 60)  # type: ignore[union-attr]
    if ready.strip() != b"ready":
        raise RuntimeError(f"emitter did not start: {ready!r}")
    return emitter


async def _until(condition: Any, what: str, poll: float = 0.005) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


async def _acked(system: System) -> float:
    """The moment the ledger holds no unacknowledged event of this system's threads."""
    from django.db.models import F

    from delivery.models import Thread

    unacked = sync_to_async(
        lambda: Thread.objects.filter(pk__in=list(system.urls), acked_seq__lt=F("last_seq"))
        .exists()
    )  # fmt: skip
    deadline = time.monotonic() + RUN_TIMEOUT
    while await unacked():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for the ledger's acks")
        await asyncio.sleep(0.01)
    return time.time()
