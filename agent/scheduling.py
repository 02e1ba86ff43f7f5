"""Fair runs: at most RUNS_PER_USER agent runs per user at once, across every worker.

A slot is a key in the shared cache (Redis), taken with an atomic add and given back when the
run ends. A slot whose worker died frees itself after the run timeout, when the stalled-run
watchdog has closed that run anyway.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

from agent import conf

SLOT_TTL = 180  # seconds a slot outlives a dead worker (the default run timeout)


@contextmanager
def run_slot(user_id: int | None) -> Iterator[bool]:
    """Take one of the user's run slots for the block; yields False when all are taken."""
    if user_id is None:  # a task queued before runs were scheduled per user
        yield True
        return
    taken = next((key for key in _slots(user_id) if cache.add(key, 1, timeout=SLOT_TTL)), None)
    try:
        yield taken is not None
    finally:
        if taken is not None:
            cache.delete(taken)


def _slots(user_id: int) -> list[str]:
    return [f"agent:run:{user_id}:{n}" for n in range(conf.current().runs_per_user)]
