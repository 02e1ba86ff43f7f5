"""The reconciler's pass time as the ledger grows: it should follow the unacked set, not the ledger.

    DATABASE_URL=postgres://... python -m bench.reconcile_pass

One ledger is grown through `sizes` in SQL (bench.reconcile_ledger describes its shape). At each
size 1,000 events spread over the ledger are due for a resend, to threads with a live client.
`delivery.repair.reconcile.reconcile()` is timed in this process: a due pass (every due event resent
with a real `group_send`, the ledger updated), then an idle pass (nothing due: the steady state),
`repeats` times, the due set put back between rounds. Writes docs/img/reconcile_pass.png.
"""

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report import Table, median, percentile, publish
from bench.stack import ROOT, BenchStack

TARGET_MS = 50.0
PLOT = ROOT / "docs" / "img" / "reconcile_pass.png"
# The lines of a plan worth printing: how rows are found, and what it cost.
PLAN_WORDS = ("Limit", "Scan", "Join", "Index Cond", "Execution Time")


def run(
    stack: BenchStack,
    *,
    sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
    unacked: int = 1_000,
    repeats: int = 11,
) -> Table:
    """Time reconciler passes over one ledger grown through `sizes`; publish and plot them."""
    from django.apps import apps

    if not apps.ready:
        stack.setup_django()
    from bench.reconcile_ledger import EVENTS_PER_THREAD, BenchLedger

    table = Table(
        title=f"Reconciler pass, {unacked:,} events due (median of {repeats})",
        columns=["ledger events", "unacked", "pass median ms", "p95 ms", "idle pass ms"],
    )
    ledger = BenchLedger()
    for size in sizes:
        started = time.monotonic()
        ledger.grow_to(size)
        ledger.choose_unacked(unacked)
        loaded = time.monotonic() - started
        due, idle = _measure(ledger, unacked, repeats)
        table.add(ledger.events, unacked, median(due), percentile(due, 95), median(idle))
        print(f"  {ledger.events:,} events: ledger ready in {loaded:.1f}s", flush=True)
    ledger.make_due()
    _print_plans()
    table.notes += _notes(table, unacked, EVENTS_PER_THREAD)
    plot(table, PLOT)
    return publish(table)


def _measure(ledger: Any, unacked: int, repeats: int) -> tuple[list[float], list[float]]:
    """Warm up, then `repeats` rounds of (due pass, idle pass); returns both in milliseconds."""
    from delivery.repair.reconcile import reconcile

    reconcile()  # starts the publisher, catches the stalled-run cursor up
    reconcile()
    ledger.drain()
    due: list[float] = []
    idle: list[float] = []
    for _ in range(repeats):
        ledger.make_due()
        due.append(_timed(reconcile, expect=unacked))
        resent, received = ledger.resent(), ledger.drain()
        if resent != unacked or received != unacked:
            raise AssertionError(f"{resent} events resent, {received} reached a client")
        idle.append(_timed(reconcile, expect=0))
    return due, idle


def _timed(reconcile: Any, *, expect: int) -> float:
    started = time.perf_counter()
    report = reconcile()
    elapsed = (time.perf_counter() - started) * 1000
    if report.retried != expect or report.undelivered or report.runs_closed:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT outcome, count(*) FROM delivery_deliveryattempt"
                " WHERE trigger = 'retry' GROUP BY outcome"
            )
            outcomes = cursor.fetchall()
        raise AssertionError(f"expected {expect} retried, got {report}; retry rows {outcomes}")
    return elapsed


def _print_plans() -> None:
    """EXPLAIN ANALYZE of the candidate and state reads with the due set in place, abridged."""
    import uuid

    from django.db import connection, transaction

    from delivery.repair import reconcile

    with connection.cursor() as cursor:
        cursor.execute(reconcile.CANDIDATES_SQL, {"after": uuid.UUID(int=0), "batch": 500})
        ids = [row[0] for row in cursor.fetchall()]
    for name, sql, params in (
        ("candidates", reconcile.CANDIDATES_SQL, {"after": uuid.UUID(int=0), "batch": 500}),
        ("state", reconcile.STATE_SQL, [ids]),
    ):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
            lines = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
        print(f"\n  EXPLAIN ANALYZE {name} read:")
        shown = [line for line in lines if any(word in line for word in PLAN_WORDS)]
        print("\n".join(f"    {line}" for line in shown), flush=True)


def _notes(table: Table, unacked: int, per_thread: int) -> list[str]:
    biggest = table.rows[-1]
    verdict = "meets" if biggest[2] <= TARGET_MS else "misses"
    return [
        f"One ledger grown in SQL: threads of {per_thread} events, every run finished, all "
        f"acked except {unacked:,} events sent past their ack deadline, one per thread, "
        "spread over the ledger; each of those threads has a live connection and a channel "
        "in its group, so every resend is a real group_send and an attempt row.",
        "Idle pass: the same ledger right after a pass, nothing due (the steady state).",
        f"At {biggest[0]:,} events the median pass {verdict} the {TARGET_MS:.0f} ms target.",
    ]


def plot(table: Table, path: Path) -> None:
    """Pass time against ledger size, log x; the p95 as an error bar, the target as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row[0] for row in table.rows]
    due, p95, idle = ([row[i] for row in table.rows] for i in (2, 3, 4))
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    above = [p - d for p, d in zip(p95, due, strict=True)]
    label = f"pass, {table.rows[0][1]:,} due (median, p95)"
    ax.errorbar(sizes, due, yerr=[[0] * len(due), above], marker="o", capsize=4, label=label)
    ax.plot(sizes, idle, marker="s", label="idle pass, nothing due (median)")
    ax.axhline(TARGET_MS, color="grey", linestyle="--", label=f"target {TARGET_MS:.0f} ms")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.minorticks_off()
    ax.set_xlim(sizes[0] / 2, sizes[-1] * 2)
    ax.set_ylim(0, max([*p95, TARGET_MS]) * 1.15)
    ax.set_xlabel("ledger events")
    ax.set_ylabel("reconciler pass (ms)")
    ax.set_title("Reconciler pass time against ledger size")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    with BenchStack() as bench_stack:
        run(bench_stack)
        print(f"plot: {PLOT.relative_to(ROOT)}")
