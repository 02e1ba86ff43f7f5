"""Real subprocesses for process-level tests: same settings, same test database and layer."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_DATABASE_NAME": settings.DATABASES["default"]["NAME"],
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {port} within {timeout}s")


def start_daphne(
    port: int, log_path: Path, *, module: str = "config.serve", **env: str
) -> subprocess.Popen:
    """daphne (through `module`, a wrapper taking daphne's arguments) on 127.0.0.1:`port`."""
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            "1",
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process=process)
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_celery_worker(log_path: Path, *, node: str = "", **env: str) -> subprocess.Popen:
    """A worker on the test queue, named `node` (default `test-<pytest pid>@host`). Workers
    alive together need different names: the broker's replies are keyed by name."""
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery_app",
            "worker",
            "-l",
            "info",
            "-Q",
            # A worker given a queue of its own serves only the processes given the same one.
            env.get("LEDGERLINE_TEST_QUEUE", settings.CELERY_TASK_DEFAULT_QUEUE),
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "-n",
            node or f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"celery worker did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    return process
