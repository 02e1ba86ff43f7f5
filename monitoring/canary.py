"""The canary: a real WebSocket client on PUBLIC_URL that gets an emitted event and acks it.

It proves the whole path a user depends on (daphne, auth, channel layer, consumer, ack
batching, ledger) by behaviour, not by attributes: an event emitted through the public emit API
must arrive over a real socket, and its acknowledgement must show up in the ledger.
"""

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing

from delivery import aemit
from delivery.models import Thread
from delivery.wire.tokens import issue_token, revoke_token
from monitoring.exceptions import CheckFailed

CANARY_USERNAME = "ledgerline-canary"
CANARY_THREAD_TITLE = "canary"
CANARY_EVENT = "canary"
TOKEN_TTL = 600


@dataclass
class CanaryResult:
    latency: float
    seq: int
    thread_id: uuid.UUID


def canary_thread() -> Thread:
    """The dedicated canary user's one thread (created on first use)."""
    user, created = User.objects.get_or_create(username=CANARY_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    thread, _ = Thread.objects.get_or_create(owner=user, title=CANARY_THREAD_TITLE)
    return thread


def ws_url(public_url: str, thread_id: uuid.UUID, token: str, after: int) -> str:
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}/ws/threads/{thread_id}/"
    return urlunsplit((scheme, parts.netloc, path, f"token={token}&after={after}", ""))


@database_sync_to_async
def _prepare() -> tuple[Thread, str, uuid.UUID]:
    thread = canary_thread()
    token = issue_token(user=thread.owner, label="canary", ttl=TOKEN_TTL)
    token_id = uuid.UUID(signing.loads(token, salt="ledgerline.access-token"))
    return thread, token, token_id


@database_sync_to_async
def _is_acked(thread_id: uuid.UUID, seq: int) -> bool:
    """The ledger shows the ack: the thread's acked watermark reached the canary's seq."""
    return Thread.objects.filter(pk=thread_id, acked_seq__gte=seq).exists()


async def acanary(*, timeout: float) -> CanaryResult:  # noqa: ASYNC109
    """Run the probe once. Raises CheckFailed naming the step that did not happen in time."""
    thread, token, token_id = await _prepare()
    try:
        return await asyncio.wait_for(_probe(thread, token, timeout), timeout=timeout * 3)
    except TimeoutError:
        raise CheckFailed(f"canary did not finish within {timeout * 3:.0f}s") from None
    finally:
        await database_sync_to_async(revoke_token)(token_id=token_id)


async def _probe(thread: Thread, token: str, timeout: float) -> CanaryResult:  # noqa: ASYNC109
    base = settings.CANARY_URL or settings.PUBLIC_URL
    url = ws_url(base, thread.id, token, after=thread.last_seq)
    safe_url = url.split("?")[0]
    try:
        ws = await websockets.connect(url, open_timeout=timeout, close_timeout=1)
    except (OSError, websockets.WebSocketException, TimeoutError) as exc:
        raise CheckFailed(f"could not open {safe_url}: {exc.__class__.__name__}: {exc}") from None
    async with ws:
        await _expect(ws, "hello", timeout, lambda f: True)
        started = time.monotonic()
        event = await aemit(thread, CANARY_EVENT, {"probe": uuid.uuid4().hex})
        await _expect(ws, "event", timeout, lambda f: f.get("id") == str(event.event_id))
        await ws.send(json.dumps({"type": "ack", "seq": event.seq}))
        deadline = time.monotonic() + timeout
        while not await _is_acked(thread.id, event.seq):
            if time.monotonic() > deadline:
                raise CheckFailed(f"ack of canary seq {event.seq} never reached the ledger")
            await asyncio.sleep(0.05)
        return CanaryResult(time.monotonic() - started, event.seq, thread.id)


async def _expect(ws: Any, kind: str, timeout: float, match: Any) -> dict[str, Any]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(left, 0.01)))
        except TimeoutError:
            raise CheckFailed(f"no {kind!r} frame from the server within {timeout}s") from None
        except websockets.ConnectionClosed as exc:
            raise CheckFailed(f"server closed the canary socket before {kind!r}: {exc}") from None
        if frame.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong", "t": frame.get("t")}))
        elif frame.get("type") == "error":
            raise CheckFailed(f"server sent error {frame.get('code')}: {frame.get('detail')}")
        elif frame.get("type") == kind and match(frame):
            return frame
