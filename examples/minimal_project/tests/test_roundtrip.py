"""The minimal project's promise: emit from your own code, a WebSocket client receives the
event and acks it, and the ack is in the ledger."""

import asyncio
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from minimal_project.asgi import application

from delivery import emit
from delivery.ledger.services import create_thread
from delivery.models import Thread
from delivery.wire.tokens import issue_token

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def test_delivery_is_the_installed_package_not_the_repositorys():
    import delivery

    assert "site-packages" in delivery.__file__, delivery.__file__
    assert (Path(delivery.__file__).parent / "static/delivery/client.js").is_file()


async def test_emit_is_received_and_its_ack_is_in_the_ledger():
    user = await db(get_user_model().objects.create_user)(username="ada")
    thread = await db(create_thread)(owner=user, title="first")
    token = await db(issue_token)(user=user)
    socket = WebsocketCommunicator(application, f"/ws/threads/{thread.id}/?token={token}")
    assert (await socket.connect(timeout=5))[0]
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"

    event = await db(emit)(thread, "agent_completed", {"answer": "42"})
    frame = await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "ack", "seq": frame["seq"]})

    assert (frame["type"], frame["seq"], frame["payload"]) == ("event", event.seq, {"answer": "42"})
    assert await _acked(thread.id) == event.seq
    await socket.disconnect()


async def _acked(thread_id) -> int:
    """The thread's acked watermark once the socket's next flush has written it."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        acked = await db(lambda: Thread.objects.get(pk=thread_id).acked_seq)()
        if acked or asyncio.get_running_loop().time() > deadline:
            return acked
        await asyncio.sleep(0.05)
