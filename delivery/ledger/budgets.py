"""Per-user budgets, so that no user starves the others: counted in Redis (the Django cache),
across every socket, HTTP call and daphne process of the user.

A budget is at most `limit` takes per user in any `window` seconds. Over it,
`RateLimited` says when the next window opens; interfaces answer `rate_limited` on a socket
and 429 with Retry-After over HTTP.
"""

import contextlib
import math
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
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


@contextlib.asynccontextmanager
async def held(*, subject: str, budget: str, limit: int, ttl: int) -> AsyncIterator[None]:
    """Hold one of `limit` concurrent places of `budget` for `subject` while the block runs,
    or raise `RateLimited` (and hold nothing). `ttl` bounds how long a place outlives a
    process that died holding it."""
    key = f"held:{budget.replace(' ', '_')}:{subject}"
    if not await sync_to_async(_enter, thread_sensitive=False)(key, limit, ttl):
        raise RateLimited(
            f"over the limit of {limit} {budget} at once; try again in 1 s", retry_after=1
        )
    try:
        yield
    finally:
        await sync_to_async(_leave, thread_sensitive=False)(key)


def _enter(key: str, limit: int, ttl: int) -> bool:
    # The cache's async incr is a get and a set, so two racing callers could both count 1;
    # the sync one is Redis's atomic INCRBY.
    cache.add(key, 0, timeout=ttl)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, timeout=ttl)
        count = 1
    if count > limit:
        _leave(key)
        return False
    return True


def _leave(key: str) -> None:
    with contextlib.suppress(ValueError):  # the count expired meanwhile: nothing to give back
        cache.decr(key)


def waiting_poll(*, user_id: int) -> contextlib.AbstractAsyncContextManager[None]:
    """One long poll waiting for events (SOCKETS_PER_USER of them at once, apart from the
    user's sockets): a client cannot hold a daphne's requests open without bound."""
    settings = conf.current()
    return held(
        subject=f"user:{user_id}",
        budget="waiting long polls",
        limit=settings.sockets_per_user,
        ttl=int(settings.long_poll_seconds) * 2 + 30,
    )
