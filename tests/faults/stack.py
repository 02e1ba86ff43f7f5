"""A Ledgerline stack of real processes that a fault scenario can kill, stop and restart.

It owns a redis-server on a free port for the channel layer (never the shared Redis), daphne
processes and a Celery worker running beat (the reconciler), all against the pytest database.
The Celery broker stays on the suite's Redis, under this run's own queue.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from tests.processes import ROOT, free_port, stop, subprocess_env, wait_for_port

TIMINGS = {
    "LEDGERLINE_RECONCILE_INTERVAL": "0.5",
    "LEDGERLINE_ACK_DEADLINE": "2.0",
    "LEDGERLINE_PING_INTERVAL": "1.0",
    "LEDGERLINE_PING_TIMEOUT": "6.0",
    "LEDGERLINE_HEARTBEAT_PERSIST_INTERVAL": "1.0",
    "LEDGERLINE_CANARY_INTERVAL": "3600",
}


class FaultStack:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.tmp_path = tmp_path
        self.redis_port = free_port()
        queue = f"faults-{uuid.uuid4().hex[:8]}"
        (tmp_path / "prometheus").mkdir(exist_ok=True)
        self.env = subprocess_env(
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
            LEDGERLINE_TEST_RUN=queue,
            LEDGERLINE_TEST_QUEUE=queue,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
            PGAPPNAME=queue,  # names the stack's database sessions, so a test can cut them
            **{**TIMINGS, **env},
        )
        self.redis: subprocess.Popen | None = None
        self.daphnes: dict[str, tuple[subprocess.Popen, int]] = {}
        self.worker: subprocess.Popen | None = None
        self._logs = 0

    def _log(self, name: str) -> Path:
        self._logs += 1
        return self.tmp_path / f"{self._logs:02d}-{name}.log"

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    @property
    def prefix(self) -> str:
        return self.env["LEDGERLINE_TEST_RUN"]

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--logfile", str(self._log("redis"))],
        )  # fmt: skip
        wait_for_port(self.redis_port, process=self.redis)

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait(10)

    def start_daphne(
        self, name: str = "web", app: str = "config.asgi:application", **env: str
    ) -> int:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "config.serve", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT, env={**self.env, **env}, stdout=self._log(name).open("w"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(port, process=process)
        self.daphnes[name] = (process, port)
        return port

    def log_text(self, name: str) -> str:
        """Everything the processes called `name` wrote (every start of it, in order)."""
        return "".join(p.read_text() for p in sorted(self.tmp_path.glob(f"*-{name}.log")))

    def port(self, name: str = "web") -> int:
        return self.daphnes[name][1]

    def kill_daphne(self, name: str) -> None:
        process, _ = self.daphnes[name]
        process.kill()
        process.wait(10)

    def start_worker(self) -> None:
        log_path = self._log("worker")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-B",
             "-s", str(self.tmp_path / f"beat-{self._logs}"), "-Q", self.prefix,
             "--pool", "threads", "--concurrency", "2", "--without-gossip", "--without-mingle",
             "-n", f"{self.prefix}-{self._logs}@%h", "-l", "info"],
            cwd=ROOT, env=self.env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `-B` runs beat as a child process
        )  # fmt: skip
        deadline = time.monotonic() + 40
        while "ready." not in log_path.read_text():
            assert self.worker.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)

    def kill_worker(self) -> None:
        """SIGKILL the worker and its beat child together, as a host or container death does
        (killing only the parent would leave beat scheduling sweeps as an orphan)."""
        assert self.worker is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def close(self) -> None:
        for process, _ in self.daphnes.values():
            stop(process)
        if self.worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGTERM)
            stop(self.worker)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGKILL)  # whatever of the group is left
        if self.redis is not None:
            stop(self.redis)
