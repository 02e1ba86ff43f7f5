"""The running stack's own addresses, for commands run beside it.

`make run` (config/run.py) records, once daphne listens, where its processes talk to each
other: its Redis URLs and PUBLIC_URL, with its pid. `manage.py verify_delivery` started through
`config.embedded exec` gets a Redis of its own and the default PUBLIC_URL; with this record it
verifies the live stack instead, and without a live stack it says so and records nothing.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a process of the stack needs to reach the others (read again by a re-run's settings).
ADDRESSES = ("PUBLIC_URL", "REDIS_URL", "REDIS_URLS", "CELERY_BROKER_URL", "CANARY_URL")


def stack_file() -> Path:
    override = os.environ.get("LEDGERLINE_STACK_FILE")
    return Path(override) if override else ROOT / ".run" / "stack.json"


@dataclass
class Stack:
    pid: int
    env: dict[str, str]

    def differs_from(self, environ: dict[str, str]) -> bool:
        return any(environ.get(key, "") != value for key, value in self.env.items())


def record(environ: dict[str, str], pid: int) -> None:
    """Called by the stack's launcher once its web process listens."""
    path = stack_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    env = {key: environ[key] for key in ADDRESSES if environ.get(key)}
    path.write_text(json.dumps(asdict(Stack(pid, env))))


def forget(pid: int) -> None:
    """The launcher is stopping: its record goes, if it is still its own."""
    found = live_stack()
    if found is not None and found.pid == pid:
        stack_file().unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def live_stack() -> Stack | None:
    """The recorded stack, if its launcher is still running."""
    try:
        data = json.loads(stack_file().read_text())
        stack = Stack(int(data["pid"]), {str(k): str(v) for k, v in data["env"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stack if _alive(stack.pid) else None
