"""The real thing: daphne as a subprocess, driven by the `websockets` client library."""

import asyncio
import json

import pytest
import websockets

from delivery import emit
from delivery.models import Thread
from tests.delivery.wsclient import db, eventually, token_for
from tests.processes import free_port, start_daphne, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


@pytest.fixture
def daphne(tmp_path):
    port = free_port()
    process = start_daphne(port, tmp_path / "daphne.log")
    yield port, tmp_path / "daphne.log"
    stop(process)


async def _next_event(ws):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        if frame["type"] == "event":
            return frame


async def test_real_daphne_delivers_resumes_and_records_acks(daphne, thread, user):
    port, log = daphne
    token = await token_for(user)
    await db(emit)(thread, "agent_started", {})
    url = f"ws://127.0.0.1:{port}/ws/threads/{thread.id}/?token={token}&after=0"
    async with websockets.connect(url) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["last_seq"] == 1
        assert (await _next_event(ws))["seq"] == 1  # backfilled
        await db(emit)(thread, "agent_completed", {"answer": 84})
        live = await _next_event(ws)
        assert (live["seq"], live["payload"]) == (2, {"answer": 84})
        await ws.send(json.dumps({"type": "ack", "seq": 2}))
        all_acked = await eventually(db(lambda: Thread.objects.get(pk=thread.pk).acked_seq == 2))
        assert all_acked
    await db(emit)(thread, "agent_followup", {})
    async with websockets.connect(url.replace("after=0", "after=2")) as ws:
        json.loads(await ws.recv())
        assert (await _next_event(ws))["seq"] == 3  # resumed exactly after 2
    assert token not in log.read_text()  # the access log never shows a token


async def test_real_daphne_refuses_another_users_thread(daphne, thread, other_user):
    port, _ = daphne
    token = await token_for(other_user)
    url = f"ws://127.0.0.1:{port}/ws/threads/{thread.id}/?token={token}"
    async with websockets.connect(url) as ws:
        error = json.loads(await ws.recv())
        assert error["code"] == "forbidden"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4403
