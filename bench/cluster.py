"""Cluster section: Ledgerline through nginx with 1, 2 and 3 daphne processes, two layer shards.

    make bench ARGS='--only cluster'

The same clients, emitter and CPU accounting as the throughput section (bench/live_path.py),
but every socket is opened through nginx (rendered from deploy/nginx/ledgerline.conf, as
`make cluster` does) and the channel layer is sharded over two redis-servers (REDIS_URLS).
For each daphne count: sustained throughput of single emits and of emit_many(10), delivered
and acked; latency at one fixed offered rate (half of what one daphne sustained); and CPU
per 1,000 events by process, with how busy the whole machine was.
"""

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
from asgiref.sync import sync_to_async

from bench import live_path
from bench.clients import close_all, open_all
from bench.live_path import LEDGER, PAYLOAD_BYTES, RunResult, System
from bench.report import Table, median, percentile, publish
from bench.stack import BenchStack, Server, free_port, redis_binary, stop, wait_for_port
from config import balancer

DAPHNE_COUNTS = (1, 2, 3)
THREADS, WORKERS, SOCKETS_PER_USER = 100, 4, 10
EVENTS = {1: 3_000, 10: 15_000}
LATENCY_SECONDS, LATENCY_LOAD = 5.0, 0.5
PARTS = ("daphnes", "nginx", "emitter", "postgres", "redis", "clients")


@dataclass
class Shard:
    process: subprocess.Popen
    url: str


@dataclass
class Cluster:
    """One daphne count's processes: nginx in front of `servers`, the shards behind them."""

    stack: BenchStack
    servers: list[Server]
    nginx: subprocess.Popen
    shards: list[Shard]
    system: System  # its urls go through nginx


class ClusterMeter:
    """CPU seconds per part since construction, each daphne apart, and the machine's busy time."""

    def __init__(self, cluster: Cluster, emitter_pid: int) -> None:
        self.processes = {
            **{f"daphne-{i}": [psutil.Process(s.pid)] for i, s in enumerate(cluster.servers, 1)},
            "nginx": [nginx := psutil.Process(cluster.nginx.pid), *nginx.children()],
            "emitter": [psutil.Process(emitter_pid)],
            "postgres": live_path._postmasters(),
            "redis": [psutil.Process(shard.process.pid) for shard in cluster.shards],
            "clients": [psutil.Process()],
        }  # fmt: skip
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        totals = {"machine": _busy(psutil.cpu_times()), "wall": time.monotonic()}
        for name, processes in self.processes.items():
            total = 0.0
            for process in processes:
                total += live_path._cpu(process)
                if name == "postgres":  # backends come and go: count them all
                    with contextlib.suppress(psutil.Error):
                        times = process.cpu_times()
                        total += times.children_user + times.children_system
                        total += sum(live_path._cpu(child) for child in process.children())
            totals[name] = total
        return totals

    def used(self) -> dict[str, float]:
        """CPU seconds per part since construction, `daphnes` their sum."""
        end = self._read()
        used = {name: end[name] - self.start[name] for name in end}
        used["daphnes"] = sum(v for k, v in used.items() if k.startswith("daphne-"))
        return used


def _busy(times) -> float:  # type: ignore[no-untyped-def]
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def start_shards(stack: BenchStack) -> list[Shard]:
    """Two redis-servers for the channel layer; the stack stops them at the end."""
    shards = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", str(stack.workdir / f"shard-{port}.log")],
        )  # fmt: skip
        stack.processes.append(process)
        wait_for_port(port, process)
        shards.append(Shard(process, f"redis://127.0.0.1:{port}/0"))
    return shards


@contextlib.contextmanager
def cluster_of(
    stack: BenchStack, shards: list[Shard], count: int, urls: dict[str, str]
) -> Iterator[Cluster]:
    """`count` daphnes behind a fresh nginx; `urls` are thread id -> path+query."""
    servers = [stack.daphne("config.asgi:application") for _ in range(count)]
    port = free_port()
    config = balancer.write_config(
        stack.workdir / f"nginx-{count}", listen=port, daphnes=[s.port for s in servers]
    )
    nginx = subprocess.Popen(balancer.command(config))
    try:
        wait_for_port(port, nginx)
        through = {t: f"ws://127.0.0.1:{port}{path}" for t, path in urls.items()}
        yield Cluster(stack, servers, nginx, shards, System(LEDGER, servers[0], through))
    finally:
        stop(nginx)
        for server in servers:
            stack.stop(server)


async def run(cluster: Cluster, *, events: int, batch: int, rate: float | None) -> RunResult:
    """One run through nginx, as live_path.run does it on one daphne."""
    clients = await open_all(list(cluster.system.urls.values()), acks=True)
    try:
        spec = {
            "system": LEDGER, "threads": list(cluster.system.urls), "events": events,
            "batch": batch, "workers": WORKERS, "rate": rate, "payload_bytes": PAYLOAD_BYTES,
        }  # fmt: skip
        emitter = await live_path._start_emitter(cluster.stack, spec)
        meter = await sync_to_async(ClusterMeter)(cluster, emitter.pid)
        go = time.time()
        emitter.stdin.write(b"go\n")  # type: ignore[union-attr]
        await emitter.stdin.drain()  # type: ignore[union-attr]
        sent = events // batch * batch
        await live_path._until(lambda: sum(c.events for c in clients) >= sent, "every event")
        delivered = max(c.last_arrival for c in clients)
        finished = await live_path._acked(cluster.system)
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
        await _closed(cluster.system)


async def _closed(system: System, timeout: float = 30.0) -> None:
    """Wait until the ledger shows every socket of the run closed: the next run starts on an
    idle cluster, and under the per-user socket budget."""
    from delivery.models import Connection, ConnectionState

    live = sync_to_async(
        lambda: Connection.objects.filter(
            thread_id__in=list(system.urls), state=ConnectionState.LIVE
        ).exists()
    )
    deadline = time.monotonic() + timeout
    while await live() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _threads() -> dict[str, str]:
    """THREADS threads, SOCKETS_PER_USER to a bench user (under the per-user socket budget):
    thread id -> the socket's path and query."""
    from django.contrib.auth.models import User

    from delivery.models import Thread
    from delivery.wire.tokens import issue_token

    urls = {}
    for first in range(0, THREADS, SOCKETS_PER_USER):
        user, _ = User.objects.get_or_create(username=f"bench-cluster-{first}")
        token = issue_token(user=user, label="bench cluster")
        count = min(SOCKETS_PER_USER, THREADS - first)
        rows = Thread.objects.bulk_create(
            [Thread(owner=user, title=f"cluster {first + i}") for i in range(count)]
        )
        urls.update({str(t.id): f"/ws/threads/{t.id}/?token={token}" for t in rows})
    return urls


@contextlib.contextmanager
def sharded(stack: BenchStack, shards: list[Shard]) -> Iterator[None]:
    """Every process the stack starts meanwhile (daphnes, emitters) uses the two shards."""
    stack.env["REDIS_URLS"] = ",".join(shard.url for shard in shards)
    try:
        yield
    finally:
        stack.env.pop("REDIS_URLS", None)


@dataclass
class Figures:
    single: list[RunResult]
    batched: list[RunResult]
    paced: list[RunResult]


def measure(cluster: Cluster, rounds: int) -> Figures:
    """Single emits and emit_many(10) as fast as the cluster takes them, `rounds` times each."""
    figures = Figures([], [], [])
    for _ in range(rounds):
        figures.single.append(asyncio.run(run(cluster, events=EVENTS[1], batch=1, rate=None)))
        figures.batched.append(asyncio.run(run(cluster, events=EVENTS[10], batch=10, rate=None)))
    return figures


def measure_paced(cluster: Cluster, rounds: int, rate: float) -> list[RunResult]:
    """Single emits offered at `rate` for LATENCY_SECONDS, `rounds` times."""
    events = int(rate * LATENCY_SECONDS)
    return [asyncio.run(run(cluster, events=events, batch=1, rate=rate)) for _ in range(rounds)]


def run_section(stack: BenchStack, rounds: int) -> None:
    """`make bench ARGS='--only cluster'`: both tables, 1, 2 and 3 daphnes."""
    shards = start_shards(stack)
    urls = _threads()
    results: dict[int, Figures] = {}
    rate = 0.0
    with sharded(stack, shards):
        for count in DAPHNE_COUNTS:
            with cluster_of(stack, shards, count, urls) as cluster:
                results[count] = figures = measure(cluster, rounds)
                # The latency load, the same for every count: half of what one daphne took.
                rate = rate or LATENCY_LOAD * median([r.rate for r in figures.single])
                figures.paced = measure_paced(cluster, rounds, rate)
    publish(throughput_table(results, rounds, rate))
    publish(cpu_table(results))


def throughput_table(results: dict[int, Figures], rounds: int, rate: float) -> Table:
    """Throughput and latency per daphne count."""
    table = Table(
        f"Through nginx: {THREADS} sockets, 2 layer shards, 1 to 3 daphnes",
        ["daphnes", "single emits events/s", "emit_many(10) events/s",
         f"p50 ms at {rate:,.0f}/s", f"p99 ms at {rate:,.0f}/s", "machine busy, single emits"],
    )  # fmt: skip
    for count, figures in results.items():
        p50 = median([percentile(r.latencies, 50) * 1e3 for r in figures.paced])
        p99 = median([percentile(r.latencies, 99) * 1e3 for r in figures.paced])
        busy = median([r.cpu["machine"] / r.cpu["wall"] * 100 for r in figures.single])
        single, batched = (
            median([r.rate for r in runs]) for runs in (figures.single, figures.batched)
        )
        cores = psutil.cpu_count() or 1
        table.add(count, single, batched, p50, p99, f"{busy:.0f}% of {cores * 100}%")
        rates = " / ".join(f"{r.rate:,.0f}" for r in figures.single)
        table.notes.append(f"{count} daphne(s), single emits, each round: {rates} events/s")
    table.notes += [
        f"median of {rounds} rounds per cell; {WORKERS} emitting workers; throughput counts "
        "events delivered and acked; every socket opened through nginx (least_conn)",
        f"latency: arrival at the client minus the time the event was due, at {rate:,.0f} "
        "events/s offered (half of one daphne's single-emit throughput), the same for each count",
    ]
    return table


def cpu_table(results: dict[int, Figures]) -> Table:
    """CPU per 1,000 single-emit events by process, per daphne count."""
    table = Table(
        "CPU per 1,000 events (ms), by process, through nginx, single emits",
        ["daphnes", "each daphne", *PARTS, "total", "unattributed"],
    )
    for count, figures in results.items():
        runs = figures.single
        per_k = {p: median([r.cpu[p] / r.events * 1e6 for r in runs]) for p in PARTS}
        each = " / ".join(
            f"{median([r.cpu[f'daphne-{i}'] / r.events * 1e6 for r in runs]):.0f}"
            for i in range(1, count + 1)
        )
        other = median([(r.cpu["machine"] - sum(r.cpu[p] for p in PARTS)) / r.events * 1e6
                        for r in runs])  # fmt: skip
        table.add(count, each, *(per_k[p] for p in PARTS), sum(per_k.values()), other)
    table.notes += [
        "redis: both shards together; nginx: its master and its one worker process",
        "unattributed: the machine's busy CPU (all cores) in the same window minus every process "
        "listed; the kernel's network work, and anything else running on the machine",
    ]
    return table
