"""Live-path sections: sustained throughput, latency under load, and the cost of an emit call.

Every figure compares Ledgerline with the plain-Channels baseline measured in the same run,
alternating A B A B, with the same clients, threads and payloads (bench/live_path.py).
"""

import asyncio
from dataclasses import dataclass

from bench import live_path
from bench.live_path import LEDGER, PLAIN, RunResult, System
from bench.report import Table, alternate, median, percentile, publish, ratio
from bench.stack import BenchStack

# Events per run, by batch size: long enough that start-up and the ack tail are a few percent.
EVENTS = {1: 3_000, 10: 15_000, 50: 30_000}
WORKERS = 4
LOAD_LEVELS = (0.25, 0.50, 0.75)
LATENCY_SECONDS = 5.0
ORDER = (PLAIN, LEDGER)


@dataclass
class Ceiling:
    """The baseline's sustained single-event rate at 10 threads: the latency section's 100%."""

    events_per_second: float


def _runs(stack: BenchStack, systems: dict[str, System], rounds: int, **options: object):
    def one(name: str):
        return lambda: asyncio.run(live_path.run(stack, systems[name], **options))  # type: ignore[arg-type]

    return alternate(rounds, {name: one(name) for name in ORDER})


def throughput(stack: BenchStack, systems_by_threads: dict[int, dict[str, System]],
               rounds: int) -> Ceiling:  # fmt: skip
    table = Table(
        "Sustained throughput: events/s delivered (and, for Ledgerline, acked)",
        ["threads", "events per message", "plain Channels", "Ledgerline", "ratio",
         "Ledgerline delivered only", "Ledgerline vs plain single"],
    )  # fmt: skip
    ceiling = Ceiling(0.0)
    single: dict[int, float] = {}
    for threads, systems in systems_by_threads.items():
        for batch in (1, 10, 50):
            results = _runs(stack, systems, rounds, events=EVENTS[batch], batch=batch,
                            workers=WORKERS)  # fmt: skip
            plain = median([r.rate for r in results[PLAIN]])
            ledger = median([r.rate for r in results[LEDGER]])
            delivered = median([r.events / r.delivered_seconds for r in results[LEDGER]])
            if batch == 1:
                single[threads] = plain
            table.add(threads, batch, plain, ledger, f"{ratio(ledger, plain):.2f}x", delivered,
                      f"{ratio(ledger, single[threads]):.1f}x")  # fmt: skip
            cpu_table(threads, batch, results)
        if threads == 10:
            ceiling = Ceiling(single[threads])
    table.notes += [
        f"median of {rounds} rounds per cell, systems alternating; {WORKERS} emitting workers; "
        "one WebSocket client per thread",
        "single emits against one-event group_send; emit_many(k) against a k-event group_send",
    ]
    publish(table)
    return ceiling


CPU_TABLE = Table(
    "CPU per 1,000 events (ms), by process, in the throughput runs",
    [
        "threads",
        "batch",
        "system",
        "daphne",
        "emitter",
        "postgres",
        "redis",
        "clients",
        "total",
        "WAL bytes/event",
    ],
)


def cpu_table(threads: int, batch: int, results: dict[str, list[RunResult]]) -> None:
    for name in ORDER:
        parts = ("daphne", "emitter", "postgres", "redis", "clients")
        per_k = {p: median([r.cpu[p] / r.events * 1e6 for r in results[name]]) for p in parts}
        wal = median([r.cpu["wal_bytes"] / r.events for r in results[name]])
        CPU_TABLE.add(threads, batch, name, *(per_k[p] for p in parts), sum(per_k.values()), wal)


def latency(stack: BenchStack, systems: dict[str, System], ceiling: Ceiling, rounds: int) -> None:
    table = Table(
        f"Latency from emit to client, 10 threads, single events "
        f"(baseline ceiling {ceiling.events_per_second:,.0f} events/s)",
        ["load", "events/s", "plain p50 ms", "Ledgerline p50 ms", "plain p99 ms",
         "Ledgerline p99 ms", "added p99 ms", "plain max ms", "Ledgerline max ms"],
    )  # fmt: skip
    for level in LOAD_LEVELS:
        rate = ceiling.events_per_second * level
        results = _runs(stack, systems, rounds, events=int(rate * LATENCY_SECONDS), batch=1,
                        workers=WORKERS, rate=rate)  # fmt: skip
        stats = {name: _latency_stats(runs) for name, runs in results.items()}
        p, q = stats[PLAIN], stats[LEDGER]
        table.add(f"{level:.0%}", rate, p[0], q[0], p[1], q[1], q[1] - p[1], p[2], q[2])
    table.notes += [
        "latency = arrival at the client minus the time the event was due (open-loop pacing, "
        "so a late emit counts); median over rounds of each round's percentile, max over rounds"
    ]
    publish(table)


def _latency_stats(runs: list[RunResult]) -> tuple[float, float, float]:
    p50 = median([percentile(r.latencies, 50) * 1e3 for r in runs])
    p99 = median([percentile(r.latencies, 99) * 1e3 for r in runs])
    return p50, p99, max(max(r.latencies) * 1e3 for r in runs)


def emit_calls(stack: BenchStack, systems: dict[str, System], rounds: int) -> None:
    """What the agent's call costs: emit / emit_many against group_send, at a steady pace."""
    table = Table(
        "Emit call latency as the agent sees it (10 threads, 200 calls/s, one worker)",
        ["events per call", "plain group_send p50 ms", "plain p99 ms", "Ledgerline emit p50 ms",
         "Ledgerline p99 ms"],
    )  # fmt: skip
    for batch in (1, 10, 50):
        results = _runs(stack, systems, rounds, events=600 * batch, batch=batch, workers=1,
                        rate=200.0 * batch)  # fmt: skip
        cells = []
        for name in ORDER:
            cells += [
                median([percentile(r.calls, q) * 1e3 for r in results[name]]) for q in (50, 99)
            ]
        table.add(batch, *(round(c, 2) for c in cells))
    table.notes += [
        "Ledgerline: `emit` for one event, `emit_many` for 10 and 50, from sync code; the call "
        "returns once the events are committed (the fast path follows on the publisher thread)",
        "plain: `await group_send` on a persistent event loop, the cheapest plain Channels call",
    ]
    publish(table)
