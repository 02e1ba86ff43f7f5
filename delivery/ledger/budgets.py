"""Per-user budgets, so that no user starves the others: counted in Redis (the Django cache),
across every socket, HTTP call and daphne process of the user.

A budget is at most `limit` takes per user in any `window` seconds. Over it,
`RateLimited` says when the next window opens; interfaces answer `rate_limited` on a socket
and 429 with Retry-After over HTTP.
"""

import math
import time

from django.core.cache import cache

from delivery import conf
from delivery.exceptions import RateLimited

MESSAGE_WINDOW = 60  # seconds: MESSAGES_PER_MINUTE counts per minute


def take(*, subject: str, budget: str, limit: int, window: int) -> None:
    """Count one use of `budget` by `subject` (a user, a key), or raise `RateLimited` (and
    count nothing).

    A sliding window, estimated from two fixed ones: the previous window's count weighs by
    how much of it still overlaps the last `window` seconds. A burst across a window's edge
    therefore gets `limit`, not twice that.
    """
    now = time.time()
    opened = int(now // window) * window
    current = f"budget:{budget}:{subject}:{opened}"
    cache.add(current, 0, timeout=window * 2)
    count = cache.incr(current)
    previous = cache.get(f"budget:{budget}:{subject}:{opened - window}", 0)
    if previous * (1 - (now - opened) / window) + count > limit:
        cache.decr(current)
        retry_after = max(1, math.ceil(opened + window - now))
        raise RateLimited(
            f"over the limit of {limit} {budget} per {window} s; try again in {retry_after} s",
            retry_after=retry_after,
        )


def take_message(*, user_id: int) -> None:
    """One user message, from any socket or HTTP call (MESSAGES_PER_MINUTE)."""
    limit = conf.current().messages_per_minute
    take(subject=f"user:{user_id}", budget="messages", limit=limit, window=MESSAGE_WINDOW)
