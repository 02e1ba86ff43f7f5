"""Noise is not signal: sockets that die under load are counted, not logged as tracebacks."""

import asyncio

import pytest
import websockets

from delivery import emit
from delivery.wire.tokens import issue_token
from tests.delivery.wsclient import db
from tests.factories import ThreadFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

SOCKETS = 60


async def _silent_socket(port: int, thread_id: str, token: str, abort_after: float | None):
    """Connects, reads nothing back (no pong), and either stays silent or drops its TCP."""
    url = f"ws://127.0.0.1:{port}/ws/threads/{thread_id}/?token={token}"
    ws = await websockets.connect(url, ping_interval=None, max_queue=None)
    if abort_after is not None:
        await asyncio.sleep(abort_after)
        ws.transport.abort()  # no close frame: the server finds out when it next sends
        return None
    try:
        await asyncio.wait_for(ws.wait_closed(), timeout=10)
    finally:
        ws.transport.abort()
    return ws.close_code


async def test_dying_sockets_leave_no_error_tracebacks(stack, user):
    # Every socket is let in (the per-user budget is 20 by default), so all of them die.
    stack.env.update(LEDGERLINE_PING_INTERVAL="0.2", LEDGERLINE_PING_TIMEOUT="0.6",
                     LEDGERLINE_SOCKETS_PER_USER=str(SOCKETS + 10))  # fmt: skip
    port = stack.start_daphne()
    threads = [await db(ThreadFactory)(owner=user) for _ in range(6)]
    token = await db(issue_token)(user=user)
    sockets = [
        _silent_socket(port, str(threads[i % 6].id), token, None if i % 2 else 0.05 * (i % 10))
        for i in range(SOCKETS)
    ]
    tasks = [asyncio.ensure_future(s) for s in sockets]
    for _ in range(40):  # events keep flowing while the sockets die
        await db(emit)(threads[_ % 6], "step", {"n": _})
        await asyncio.sleep(0.03)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1.5)  # the heartbeat closes what is left

    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert not refused, refused[:3]
    silent = [code for code in outcomes if code is not None]
    assert silent == [4408] * (SOCKETS // 2)  # each silent one closed by the heartbeat
    _sends_after_close(port)  # a send that raced a close is counted there (often 0 here)

    log = stack.log_text("web")
    assert "Traceback" not in log, log[-3000:]
    assert " ERROR " not in log


def _sends_after_close(port: int) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("websocket_sends_after_close_total "):
                return float(line.split()[1])
    raise AssertionError("websocket_sends_after_close_total is not exported")
