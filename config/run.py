"""`make run`: prepare the database, then run daphne, a Celery worker and Celery beat together.

    python -m config.embedded exec -- python -m config.run

Migrates, collects static files and seeds the demo users, then starts the Procfile's processes
under honcho. Ctrl-C stops all of them. PORT (default 8000) is daphne's port on 127.0.0.1.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import django
from django.core.management import call_command
from django.db import connections
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

from monitoring import stack

ROOT = Path(__file__).resolve().parent.parent


def prepare_database() -> None:
    """Migrate, collect static files and seed the demo users, in one Django start-up."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()
    call_command("migrate", interactive=False)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo")
    connections.close_all()  # honcho forks next: no child may inherit an open connection


def prepare_environment() -> None:
    os.environ.setdefault("PORT", "8000")
    os.environ.setdefault("PUBLIC_URL", f"http://127.0.0.1:{os.environ['PORT']}")
    # The Procfile's `python` and `celery` are this interpreter's, whatever PATH the caller had.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["PYTHONUNBUFFERED"] = "1"  # honcho reads pipes: unbuffered lines show up at once
    # Counters of daphne, the worker and beat are merged by /metrics (prometheus multiprocess).
    metrics_dir = Path(
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / ".run" / "prometheus"))
    )
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)


def mode() -> str:
    embedded = os.environ.get("LEDGERLINE_EMBEDDED")
    if embedded is None:
        return "unknown (started without config.embedded)"
    if not embedded:
        return "services (DATABASE_URL and REDIS_URL from the environment)"
    names = embedded.replace("postgresql", "PostgreSQL").replace("redis", "Redis")
    return f"embedded ({names.replace(',', ' and ')} from PyPI wheels, kept under .run/)"


def announce_when_listening(port: int) -> None:
    """Print where everything is once daphne accepts connections."""
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    print(banner(os.environ["PUBLIC_URL"]), flush=True)
    verify_delivery()


def banner(public_url: str) -> str:
    """Where everything is, printed once daphne listens."""
    public = public_url.rstrip("/")
    lines = [
        f"Ledgerline is up. Mode: {mode()}",
        f"  chat     {public}/",
        f"  console  {public}/console/  (log in as admin or support)",
        f"  admin    {public}/admin/",
        f"  API      {public}/api/threads",
        f"  logins   {ROOT / '.run' / 'demo-credentials.txt'}",
        "  Ctrl-C stops daphne, the worker and beat.",
    ]
    bar = "=" * max(len(line) for line in lines)
    return "\n".join([bar, *lines, bar])


def verify_delivery() -> None:
    """Startup verification, once daphne listens: a failure is logged CRITICAL, opens an
    alert and keeps /healthz/ready at 503 (monitoring/verification.py). First the stack's
    addresses are recorded, so `verify_delivery` run beside it checks this stack
    (monitoring/stack.py)."""
    stack.record(dict(os.environ), os.getpid())
    command = [sys.executable, "manage.py", "verify_delivery", "--trigger", "startup"]
    # The worker and beat start alongside daphne: give them a moment before failing loudly.
    subprocess.run([*command, "--retry-for", "45"], cwd=ROOT, check=False)  # noqa: S603


def port_is_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    prepare_environment()
    port = int(os.environ["PORT"])
    if port_is_taken(port):
        print(f"Port {port} is already in use; try: make run PORT={port + 1}", file=sys.stderr)
        return 2
    print(f"Mode: {mode()}", flush=True)
    prepare_database()

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    manager = Manager(Printer(sys.stdout))
    for name, cmd in procfile.processes.items():
        manager.add_process(name, cmd, env=dict(os.environ), cwd=str(ROOT))
    threading.Thread(target=announce_when_listening, args=(port,), daemon=True).start()
    manager.loop()
    stack.forget(os.getpid())
    if manager.returncode == 130:  # Ctrl-C: every process was stopped, as asked
        print("Stopped daphne, the worker and beat.", flush=True)
        return 0
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
