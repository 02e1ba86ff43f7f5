"""`make bench`: Ledgerline against plain Channels, side by side, on this machine, now.

    make bench                       # every section, about 10 minutes
    make bench ARGS='--only throughput,latency --rounds 2'
    make bench ARGS='--only cluster'   # through nginx with 1, 2 and 3 daphnes (about 4 minutes)

Sections: throughput, latency, emit, resume, burst, retention, reconcile, memory, and cluster
(only when named: it is not part of the default run). Each prints its table as it finishes;
the whole report is also written to .run/bench/latest.md. Run it on an idle machine: the
systems alternate, so noise lands on both, but a busy machine lowers every figure.
"""

import argparse
import platform
import sys
import time
from datetime import UTC, datetime

import psutil

from bench import report
from bench.stack import ROOT, BenchStack

SECTIONS = ("throughput", "latency", "emit", "resume", "burst", "retention", "reconcile", "memory")
# Run only when named (`--only cluster`): it starts nginx and six daphne processes in turn.
OPT_IN = ("cluster",)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory = psutil.virtual_memory().total / 2**30
    load = psutil.getloadavg()[0]
    return (f"{psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python "
            f"{platform.python_version()}, load average {load:.2f} at start")  # fmt: skip


def run_sections(stack: BenchStack, only: set[str], rounds: int) -> None:
    from bench import live_path, throughput

    if not only & {"throughput", "latency", "emit"}:
        run_ledger_sections(stack, only, rounds)
        return

    ten = live_path.start_systems(stack, 10)
    hundred = live_path.start_systems(stack, 100) if "throughput" in only else {}
    ceiling = throughput.Ceiling(0.0)
    if "throughput" in only:
        ceiling = throughput.throughput(stack, {10: ten, 100: hundred}, rounds)
        report.publish(throughput.CPU_TABLE)
    if "latency" in only:
        if not ceiling.events_per_second:
            ceiling = throughput.throughput(stack, {10: ten}, 1)
        throughput.latency(stack, ten, ceiling, max(2, rounds - 1))
    if "emit" in only:
        throughput.emit_calls(stack, ten, max(2, rounds - 1))
    for system in (*ten.values(), *hundred.values()):
        stack.stop(system.server)
    run_ledger_sections(stack, only, rounds)


def run_ledger_sections(stack: BenchStack, only: set[str], rounds: int) -> None:
    if "resume" in only:
        from bench import resume

        server = stack.daphne("config.asgi:application")
        resume.run(stack, server)
        stack.stop(server)
    if "burst" in only:
        from bench import burst

        burst.run(stack)
    if "retention" in only:
        from bench import retention_drop

        retention_drop.run(stack)
    if "memory" in only:
        from bench import idle_memory

        # Opening 5,000 Ledgerline sockets takes about a minute; one round keeps the whole
        # bench inside 15 minutes (`python -m bench.idle_memory` runs more).
        idle_memory.run(stack, rounds=1)
    if "reconcile" in only:
        from bench import reconcile_pass

        reconcile_pass.run(stack)
    if "cluster" in only:
        from bench import cluster

        cluster.run_section(stack, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per figure (>= 1)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - set(SECTIONS) - set(OPT_IN):
        choices = ", ".join((*SECTIONS, *OPT_IN))
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {choices}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    began, header = time.monotonic(), f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}"
    print(f"Ledgerline bench: {header}", flush=True)
    with BenchStack() as stack:
        stack.setup_django()
        run_sections(stack, only, args.rounds)
    took = f"{time.monotonic() - began:.0f} s"
    out = ROOT / ".run" / "bench" / "latest.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(t.markdown() for t in report.TABLES)
    out.write_text(f"# Ledgerline bench, {header}\n\n`python -m bench {' '.join(sys.argv[1:])}` "
                   f"took {took}\n\n{body}")  # fmt: skip
    print(f"\nbench finished in {took}; report written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
