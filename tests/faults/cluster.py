"""A Ledgerline cluster of real processes that a fault scenario can kill: `make cluster`'s shape.

Two redis-servers shard the channel layer (REDIS_URLS), three daphne processes sit behind
nginx (rendered from deploy/nginx/ledgerline.conf, as `make cluster` does), two Celery workers
and one beat run against the pytest database. Every server gets a free port: the suite's
Redis serves only as Celery's broker, under this cluster's own queue, as for FaultStack.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from config import balancer
from tests.faults.stack import TIMINGS
from tests.processes import ROOT, free_port, stop, subprocess_env, wait_for_port

RECONCILE_TASK = re.compile(r"Task delivery\.tasks\.reconcile\[([0-9a-f-]+)\] (received|succeeded)")


class Worker:
    """A Celery worker process and its log."""

    def __init__(self, name: str, process: subprocess.Popen, log: Path) -> None:
        self.name, self.process, self.log = name, process, log

    def reconciles(self) -> tuple[set[str], set[str]]:
        """Ids of the reconcile tasks this worker received, and of those it finished."""
        received: set[str] = set()
        succeeded: set[str] = set()
        for task, event in RECONCILE_TASK.findall(self.log.read_text()):
            (received if event == "received" else succeeded).add(task)
        return received, succeeded


class ClusterStack:
    def __init__(self, tmp_path: Path, *, daphnes: int = 3, workers: int = 2) -> None:
        self.tmp_path = tmp_path
        self.shard_ports = [free_port(), free_port()]
        self.nginx_port = free_port()
        self.daphne_count, self.worker_count = daphnes, workers
        queue = f"cluster-{uuid.uuid4().hex[:8]}"
        (tmp_path / "prometheus").mkdir(exist_ok=True)
        self.env = subprocess_env(
            REDIS_URLS=",".join(self.shard_urls),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
            LEDGERLINE_TEST_RUN=queue,
            LEDGERLINE_TEST_QUEUE=queue,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
            PGAPPNAME=queue,
            **TIMINGS,
        )
        self.shards: dict[int, subprocess.Popen] = {}
        self.daphnes: dict[int, subprocess.Popen] = {}  # port -> process
        self.workers: list[Worker] = []
        self.beat: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self._logs = 0

    @property
    def shard_urls(self) -> list[str]:
        """The layer's hosts, in the order every process lists them."""
        return [f"redis://127.0.0.1:{port}/0" for port in self.shard_ports]

    @property
    def prefix(self) -> str:
        """This cluster's layer prefix and Celery queue."""
        return self.env["LEDGERLINE_TEST_RUN"]

    def _log(self, name: str) -> Path:
        self._logs += 1
        return self.tmp_path / f"{self._logs:02d}-{name}.log"

    def _spawn(self, name: str, argv: list[str], **options) -> tuple[subprocess.Popen, Path]:
        log = self._log(name)
        process = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
            **options,
        )  # fmt: skip
        return process, log

    def start(self, *, beat: bool = True) -> None:
        """Every process at once (start-up is mostly Django imports, so they overlap), then
        wait until each listens or says it is ready."""
        for index in range(len(self.shard_ports)):
            self._start_shard(index)
        ports = [free_port() for _ in range(self.daphne_count)]
        for port in ports:
            self.daphnes[port] = self._spawn(f"daphne-{port}", [
                sys.executable, "-m", "config.serve", "-b", "127.0.0.1", "-p", str(port),
                "--proxy-headers", "config.asgi:application",
            ])[0]  # fmt: skip
        self._start_nginx(ports)
        self.workers = [self._spawn_worker(n) for n in range(1, self.worker_count + 1)]
        if beat:
            self.start_beat()
        for port, process in self.daphnes.items():
            wait_for_port(port, timeout=60, process=process)
        for worker in self.workers:
            self._wait_ready(worker)

    def _start_shard(self, index: int) -> None:
        port = self.shard_ports[index]
        self.shards[index] = self._spawn(f"shard-{index}", [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no",
        ])[0]  # fmt: skip
        wait_for_port(port, process=self.shards[index])

    def _start_nginx(self, ports: list[int]) -> None:
        config = balancer.write_config(
            self.tmp_path / "nginx", listen=self.nginx_port, daphnes=ports
        )
        self.nginx = self._spawn("nginx", balancer.command(config))[0]
        wait_for_port(self.nginx_port, process=self.nginx)

    def _spawn_worker(self, number: int) -> Worker:
        # The cluster's queue, and this test process's: its fast path queues redeliveries there.
        queues = f"{self.prefix},{settings.CELERY_TASK_DEFAULT_QUEUE}"
        name = f"{self.prefix}-{number}"
        process, log = self._spawn(f"worker-{number}", [
            sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", queues,
            "--pool", "threads", "--concurrency", "2", "--without-gossip", "--without-mingle",
            "-n", f"{name}@%h", "-l", "info",
        ], start_new_session=True)  # fmt: skip
        return Worker(name, process, log)

    def _wait_ready(self, worker: Worker, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in worker.log.read_text():
            assert worker.process.poll() is None, worker.log.read_text()[-3000:]
            assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
            time.sleep(0.1)

    def start_beat(self) -> None:
        """Celery beat alone: it schedules the reconciler on the cluster's queue."""
        self.beat = self._spawn("beat", [
            sys.executable, "-m", "celery", "-A", "config.celery_app", "beat", "-l", "info",
            "-s", str(self.tmp_path / "celerybeat-schedule"),
        ], start_new_session=True)[0]  # fmt: skip

    @property
    def daphne_ports(self) -> list[int]:
        """Every daphne's port, the killed ones too."""
        return list(self.daphnes)

    def daphne_logs(self) -> list[Path]:
        """Every daphne's log."""
        return sorted(self.tmp_path.glob("*-daphne-*.log"))

    def daphne_pid(self, port: int) -> int:
        """The pid the ledger records as the `server` of this daphne's connections."""
        return self.daphnes[port].pid

    def kill_daphne(self, port: int) -> None:
        """SIGKILL one daphne behind nginx."""
        self.daphnes[port].kill()
        self.daphnes[port].wait(10)

    def live_daphne_port(self) -> int:
        """A daphne still running (for /metrics)."""
        return next(port for port, process in self.daphnes.items() if process.poll() is None)

    def kill_shard(self, index: int) -> None:
        """SIGKILL one layer shard."""
        self.shards[index].kill()
        self.shards[index].wait(10)

    def restart_shard(self, index: int) -> None:
        """The shard back on its port, empty: no groups, no channels, no queued messages."""
        self._start_shard(index)

    def kill_worker(self, worker: Worker) -> None:
        """SIGKILL the worker's whole process group, as a host or container death does."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)

    def close(self) -> None:
        """Stop every process the cluster started, whatever state it is in."""
        for process in self._group_leaders():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self._group_leaders(), *self.daphnes.values()]:
            stop(process)
        if self.nginx is not None:
            stop(self.nginx)
        for process in self.shards.values():
            stop(process)

    def _group_leaders(self) -> Iterator[subprocess.Popen]:
        yield from (worker.process for worker in self.workers)
        if self.beat is not None:
            yield self.beat
