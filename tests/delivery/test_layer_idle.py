"""An idle socket outlives the Redis client's read timeout (5 s in redis-py >= 8)."""

import asyncio

import pytest

from delivery import emit
from tests.delivery.wsclient import connect, db, receive_events

pytestmark = pytest.mark.django_db(transaction=True)


async def test_idle_consumer_survives_the_redis_read_timeout(thread, user):
    ws, _ = await connect(thread, user)
    await asyncio.sleep(
        6.5
    )  # longer than both channels_redis's BZPOPMIN and redis-py's read timeout
    assert await ws.receive_nothing(timeout=0.1) in (True, False)  # raises if the consumer died
    await db(emit)(thread, "agent_completed", {})
    [frame] = await receive_events(ws, 1)
    assert frame["seq"] == 1
    await ws.disconnect()
