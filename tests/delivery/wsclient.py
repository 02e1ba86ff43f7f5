"""A test client for the thread socket that goes through the real ASGI stack."""

import json
from typing import Any

from channels.db import DatabaseSyncToAsync
from channels.testing import WebsocketCommunicator

from config.asgi import application
from delivery.wire.tokens import issue_token


def db(func):
    """Run ORM code off the event loop, in a worker thread that closes its connection."""
    return DatabaseSyncToAsync(func, thread_sensitive=False)


async def token_for(user) -> str:
    return await db(issue_token)(user=user)


async def connect(
    thread, user, *, after: int | None = None, token: str | None = None, headers: list | None = None
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """Connect as `user` with a token and return the communicator and the first frame."""
    token = token if token is not None else await token_for(user)
    query = f"?token={token}" + (f"&after={after}" if after is not None else "")
    communicator = WebsocketCommunicator(
        application, f"/ws/threads/{thread.id}/{query}", headers=headers or []
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    first = await communicator.receive_json_from(timeout=5)
    return communicator, first


async def receive_events(communicator, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """The next `count` event frames, skipping pings."""
    events = []
    while len(events) < count:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == "event":
            events.append(frame)
    return events


async def eventually(check, timeout: float = 3.0):
    """Poll an async `check` until it returns a truthy value: for rows written after a send."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def send(communicator, frame: Any) -> None:
    await communicator.send_to(text_data=json.dumps(frame))


def listen(thread) -> str:
    """A channel in the thread's group, as a live socket's would be."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from delivery.fastpath.frames import group_name

    layer = get_channel_layer()

    async def subscribe():
        channel = await layer.new_channel()
        await layer.group_add(group_name(thread.id), channel)
        return channel

    return async_to_sync(subscribe)()
