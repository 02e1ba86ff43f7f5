"""A small view of the Celery workers, from `celery inspect` (a broadcast every worker answers
within a second), the broker's queue lengths and the heartbeats monitoring records."""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celery import current_app
from django.conf import settings
from kombu.exceptions import ChannelError

from monitoring.workers import last_heartbeats

INSPECT_TIMEOUT = 1.0


@dataclass
class ActiveTask:
    name: str
    id: str
    started: datetime | None


@dataclass
class Worker:
    name: str
    pid: int | None = None
    uptime: float | None = None
    concurrency: int | None = None
    processed: int = 0
    active: list[ActiveTask] = field(default_factory=list)
    reserved: int = 0
    queues: list[str] = field(default_factory=list)
    heartbeat_at: datetime | None = None


@dataclass
class WorkerView:
    workers: list[Worker]
    queues: list[tuple[str, int | None]]
    took: float
    error: str = ""


def _worker(name: str, stats: dict[str, Any]) -> Worker:
    pool = stats.get("pool") or {}
    return Worker(
        name=name,
        pid=stats.get("pid"),
        uptime=stats.get("uptime"),
        concurrency=pool.get("max-concurrency"),
        processed=sum((stats.get("total") or {}).values()),
    )


def _active(entries: list[dict[str, Any]]) -> list[ActiveTask]:
    return [
        ActiveTask(
            name=entry.get("name", "?"),
            id=entry.get("id", ""),
            started=datetime.fromtimestamp(entry["time_start"], tz=UTC)
            if entry.get("time_start")
            else None,
        )
        for entry in entries
    ]


def queue_depths(names: list[str]) -> list[tuple[str, int | None]]:
    """Messages waiting in each queue on the broker (None: it could not say). Redis keeps no
    empty queue, so a queue it does not know has nothing waiting."""
    depths: list[tuple[str, int | None]] = []
    with current_app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=INSPECT_TIMEOUT)
        for name in names:
            try:
                declared = conn.default_channel.queue_declare(queue=name, passive=True)
                depths.append((name, declared.message_count))
            except ChannelError:
                depths.append((name, 0))
            except Exception:
                depths.append((name, None))
    return depths


def snapshot() -> WorkerView:
    """Workers, what they run, how long their queues are and when each last sent a heartbeat."""
    started = time.monotonic()
    default_queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    try:
        stats = current_app.control.inspect(timeout=INSPECT_TIMEOUT).stats() or {}
        # Knowing how many answer, the next broadcasts return as soon as all of them have.
        inspect = current_app.control.inspect(timeout=INSPECT_TIMEOUT, limit=len(stats) or None)
        active = (inspect.active() or {}) if stats else {}
        reserved = (inspect.reserved() or {}) if stats else {}
        consumed = (inspect.active_queues() or {}) if stats else {}
        workers = [_worker(name, data) for name, data in sorted(stats.items())]
        for worker in workers:
            worker.active = _active(active.get(worker.name) or [])
            worker.reserved = len(reserved.get(worker.name) or [])
            worker.queues = [q["name"] for q in consumed.get(worker.name) or []]
        beats = last_heartbeats([w.name for w in workers])
        for worker in workers:
            worker.heartbeat_at = beats.get(worker.name)
        names = sorted({default_queue, *(q for w in workers for q in w.queues)})
        queues = queue_depths(names)
    except Exception as exc:  # the broker is down: the page says so instead of failing
        took = time.monotonic() - started
        return WorkerView([], [], took, error=f"{exc.__class__.__name__}: {exc}")
    return WorkerView(workers, queues, time.monotonic() - started)
