"""Celery workers' heartbeats, kept where the console can read them.

Every worker's `Heart` sends a heartbeat every 2 s (Celery does, even without `-E`). The
receiver in monitoring/receivers.py stores its time in the cache (Redis, shared by every
process), under the worker's name, so a page can say when each worker was last heard from.
"""

import logging
import time
from datetime import UTC, datetime

from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY = "monitoring:worker-heartbeat:{}"
KEEP_SECONDS = 24 * 3600


def record_heartbeat(worker: str) -> None:
    """Never raises: a cache that is down must not stop a worker's heart."""
    try:
        cache.set(KEY.format(worker), time.time(), KEEP_SECONDS)
    except Exception as exc:
        logger.debug("worker heartbeat of %s not recorded: %s", worker, exc)


def last_heartbeats(workers: list[str]) -> dict[str, datetime]:
    """When each of `workers` last sent a heartbeat (those never heard from are left out)."""
    try:
        found = cache.get_many([KEY.format(w) for w in workers])
    except Exception as exc:
        logger.warning("worker heartbeats unreadable: %s", exc)
        return {}
    return {
        worker: datetime.fromtimestamp(found[KEY.format(worker)], tz=UTC)
        for worker in workers
        if KEY.format(worker) in found
    }
