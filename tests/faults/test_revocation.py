"""An operator revokes a user's tokens while their socket is open on a real daphne: the
socket closes with 4401 within seconds, and can post nothing more."""

import asyncio
import subprocess
import sys
import time

import pytest
import websockets
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery.models import Event
from delivery.wire.tokens import issue_token
from tests.delivery.wsclient import db
from tests.factories import ThreadFactory
from tests.processes import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


async def test_revoke_tokens_closes_the_open_socket(stack, user):
    port = stack.start_daphne()
    thread = await db(ThreadFactory)(owner=user)
    token = await db(issue_token)(user=user)
    url = f"ws://127.0.0.1:{port}/ws/threads/{thread.id}/?token={token}"
    async with websockets.connect(url) as ws:
        assert '"hello"' in await ws.recv()
        started = time.monotonic()
        revoked = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "manage.py", "revoke_tokens", user.username],
            cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert "revoked 1 token(s)" in revoked.stdout
        frames = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), timeout=5))
        with pytest.raises(websockets.ConnectionClosed):
            await ws.send('{"type": "message", "text": "after", "client_id": "late"}')
    assert closed.value.rcvd.code == 4401
    assert time.monotonic() - started < 5 + 3  # the command's own start-up, then the bound
    assert any('"unauthenticated"' in f for f in frames)
    assert not await db(Event.objects.filter(thread=thread).exists)()


def test_revoke_tokens_names_an_unknown_user():
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("revoke_tokens", "nobody")
