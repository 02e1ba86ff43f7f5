"""Memory per idle WebSocket in one daphne process, and the CPU its heartbeats cost.

    LEDGERLINE_BENCH_DB=ll_bench_idle DATABASE_URL=postgres://... python -m bench.idle_memory

For each system (Ledgerline, the plain-Channels baseline) and each connection count, a fresh
daphne is started and warmed up with one connection; its memory is read, N idle clients connect
(one thread each), and once every client has its `hello` and things settle the memory is read
again: bytes per connection = growth / N. Then, with all N idle, the daphne process's CPU time
is read over a window of several ping intervals. Ledgerline pings every `PING_INTERVAL` and
persists a pong every `HEARTBEAT_PERSIST_INTERVAL`; the baseline has no app-level heartbeat.
daphne's own protocol pings are the same for both.
"""

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from bench.idle_clients import IdleFleet
from bench.report import Table, alternate, median, publish, ratio
from bench.stack import BenchStack, Server, raise_fd_limit

SETTLE_SECONDS = 2.0
CPU_WINDOW_SECONDS = 10.0  # two ping intervals, one persist interval
OPEN_TIMEOUT_SECONDS = 120.0
TARGET_RATIO = 1.2


@dataclass(frozen=True)
class Fixtures:
    thread_ids: list[str]
    token: str


@dataclass(frozen=True)
class Sample:
    rss_per_conn: float  # bytes
    uss_per_conn: float  # bytes
    cpu_percent: float  # of one core
    writes_per_second: float  # Connection rows updated (heartbeats persisted)
    open_seconds: float


def make_fixtures(count: int) -> Fixtures:
    """One bench user owning `count` threads, and one token for all its connections."""
    from django.contrib.auth.models import User

    from delivery.models import Thread
    from delivery.wire.tokens import issue_token

    user, _ = User.objects.get_or_create(username="bench-idle")
    threads = Thread.objects.bulk_create(
        [Thread(owner=user, title=f"idle {n}") for n in range(count)], batch_size=1000
    )
    return Fixtures([str(thread.id) for thread in threads], issue_token(user=user, label="idle"))


def ledgerline_url(port: int, thread_id: str, fixtures: Fixtures) -> str:
    return f"ws://127.0.0.1:{port}/ws/threads/{thread_id}/?token={fixtures.token}"


def baseline_url(port: int, thread_id: str, fixtures: Fixtures) -> str:
    return f"ws://127.0.0.1:{port}/plain/{thread_id}/"


@dataclass(frozen=True)
class System:
    app: str
    url: Callable[[int, str, Fixtures], str]
    env: Callable[[BenchStack], dict[str, str]] = lambda stack: {}


SYSTEMS = {
    "baseline": System("bench.plain_app:application", baseline_url),
    "ledgerline": System("config.asgi:application", ledgerline_url),
}


def memory(pid: int) -> tuple[int, int]:
    info = psutil.Process(pid).memory_full_info()
    return info.rss, info.uss


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def connection_updates(database_url: str) -> int:
    """Rows updated in delivery_connection so far (a fresh session sees fresh statistics)."""
    from bench.stack import connect

    with connect(database_url) as db:
        row = db.execute(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'delivery_connection'"
        ).fetchone()
    return int(row[0]) if row else 0


class Measurement:
    """One system in one fresh daphne, grown through the connection counts in turn."""

    def __init__(self, stack: BenchStack, server: Server, urls: list[str]) -> None:
        self.stack, self.server, self.urls = stack, server, urls
        self.fleet = IdleFleet()

    async def run(self, counts: Sequence[int]) -> dict[int, Sample]:
        await self.warm_up()
        base = memory(self.server.pid)
        samples, opened = {}, 0
        try:
            for count in sorted(counts):
                started = time.monotonic()
                await self.fleet.open(self.urls[opened:count], OPEN_TIMEOUT_SECONDS)
                open_seconds, opened = time.monotonic() - started, count
                await asyncio.sleep(SETTLE_SECONDS)
                now = memory(self.server.pid)
                rss, uss = now[0] - base[0], now[1] - base[1]
                cpu, writes = await self.heartbeat_cost()
                self.fleet.check()
                samples[count] = Sample(rss / count, uss / count, cpu, writes, open_seconds)
        finally:
            self.server.process.kill()  # closing thousands of sockets would only cost time
            self.server.process.wait()
            await self.fleet.close()
        return samples

    async def warm_up(self) -> None:
        fleet = IdleFleet()
        await fleet.open(self.urls[:1], OPEN_TIMEOUT_SECONDS)
        await fleet.close()
        await asyncio.sleep(0.5)

    async def heartbeat_cost(self) -> tuple[float, float]:
        """CPU % of one core and heartbeat writes per second over the idle window."""
        database_url = self.stack.env["DATABASE_URL"]
        updates0 = await asyncio.to_thread(connection_updates, database_url)
        cpu0, wall0 = cpu_seconds(self.server.pid), time.monotonic()
        await asyncio.sleep(CPU_WINDOW_SECONDS)
        cpu1, wall1 = cpu_seconds(self.server.pid), time.monotonic()
        updates1 = await asyncio.to_thread(connection_updates, database_url)
        elapsed = wall1 - wall0
        return 100 * (cpu1 - cpu0) / elapsed, (updates1 - updates0) / elapsed


def measure(
    stack: BenchStack, system: System, fixtures: Fixtures, counts: Sequence[int]
) -> dict[int, Sample]:
    server = stack.daphne(system.app, **system.env(stack))
    ids = fixtures.thread_ids[: max(counts)]
    urls = [system.url(server.port, thread_id, fixtures) for thread_id in ids]
    try:
        return asyncio.run(Measurement(stack, server, urls).run(counts))
    except Exception:
        errors = [line for line in server.log.read_text().splitlines() if "WS" not in line]
        print("\n".join(errors[-40:]), flush=True)
        raise
    finally:
        stack.stop(server)
        close_leftover_connections()


def close_leftover_connections() -> None:
    """The killed server could not close its Connection rows; later sections expect none live."""
    from delivery.models import Connection, ConnectionState

    Connection.objects.filter(state=ConnectionState.LIVE, user__username="bench-idle").update(
        state=ConnectionState.CLOSED, close_reason="bench server stopped"
    )


def run(
    stack: BenchStack, *, counts: tuple[int, ...] = (1_000, 5_000), rounds: int = 2
) -> list[Table]:
    raise_fd_limit()
    ensure_django(stack)
    fixtures = make_fixtures(max(counts))
    table = Table(
        "Idle WebSockets: memory per connection and heartbeat CPU (one daphne process)",
        ["connections", "baseline KB/conn", "Ledgerline KB/conn", "ratio",
         "baseline CPU %", "Ledgerline CPU %", "Ledgerline heartbeat writes/s"],
    )  # fmt: skip
    uss_notes = []
    results = alternate(rounds, {
        name: functools.partial(measure, stack, system, fixtures, counts)
        for name, system in SYSTEMS.items()
    })  # fmt: skip
    for count in counts:
        base = summarise([samples[count] for samples in results["baseline"]])
        ours = summarise([samples[count] for samples in results["ledgerline"]])
        table.add(count, base["rss"], ours["rss"], ratio(ours["rss"], base["rss"]),
                  base["cpu"], ours["cpu"], ours["writes"])  # fmt: skip
        uss_notes.append(
            f"{count:,} connections: USS {base['uss']:.1f} vs {ours['uss']:.1f} KB/conn "
            f"(ratio {ratio(ours['uss'], base['uss']):.2f}); opening took "
            f"{base['open']:.1f} s (baseline) and {ours['open']:.1f} s (Ledgerline)"
        )
    table.notes += notes(rounds) + uss_notes
    return [publish(table)]


def summarise(samples: list[Sample]) -> dict[str, float]:
    return {
        "rss": median([s.rss_per_conn / 1024 for s in samples]),
        "uss": median([s.uss_per_conn / 1024 for s in samples]),
        "cpu": median([s.cpu_percent for s in samples]),
        "writes": median([s.writes_per_second for s in samples]),
        "open": median([s.open_seconds for s in samples]),
    }


def notes(rounds: int) -> list[str]:
    return [
        f"KB/conn: RSS growth of a fresh, warmed-up daphne after N idle clients got their hello "
        f"and {SETTLE_SECONDS:.0f} s passed, divided by N; median of {rounds} rounds, systems "
        f"alternating. Target: Ledgerline at most {TARGET_RATIO}x the baseline.",
        f"CPU %: daphne's user+system CPU over {CPU_WINDOW_SECONDS:.0f} s with all N idle, as a "
        "share of one core. Ledgerline pings every 5 s and persists a pong every 10 s per "
        "connection; the baseline has no app-level heartbeat.",
        "Heartbeat writes/s: delivery_connection rows updated per second in the same window.",
    ]


def ensure_django(stack: BenchStack) -> None:
    from django.apps import apps

    if not apps.ready:
        stack.setup_django()


if __name__ == "__main__":
    with BenchStack() as bench_stack:
        run(bench_stack)
