"""SOCKETS_PER_USER holds against the attack it exists for: one user opening many sockets at
once, on two daphne processes, so that no count-then-insert race lets extra ones in."""

import asyncio
import contextlib
import json
import threading

import pytest
import websockets
from channels.db import database_sync_to_async
from django import db

from delivery.exceptions import RateLimited
from delivery.ledger import progress
from delivery.models import Connection, ConnectionState
from delivery.wire.tokens import issue_token
from tests.processes import free_port, start_daphne, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]
LIMIT, ATTEMPTS = 5, 40


async def _first_frame(url: str) -> tuple[str, websockets.ClientConnection | None]:
    ws = await websockets.connect(url, open_timeout=10)
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    if frame["type"] == "hello":
        return "hello", ws
    await ws.close()
    return frame.get("code", frame["type"]), None


async def _flood(urls: list[str], user) -> tuple[list[str], int]:
    """Every handshake at once; what each got first, and the live rows while they are open."""
    answers = await asyncio.gather(*(_first_frame(url) for url in urls))
    live = await database_sync_to_async(
        Connection.objects.filter(user=user, state=ConnectionState.LIVE).count
    )()
    await asyncio.gather(*(ws.close() for _, ws in answers if ws is not None))
    return [kind for kind, _ in answers], live


def test_many_sockets_at_once_on_two_processes_get_exactly_the_budget(tmp_path, thread, user):
    ports = [free_port(), free_port()]
    webs = [
        start_daphne(port, tmp_path / f"web{n}.log", LEDGERLINE_SOCKETS_PER_USER=str(LIMIT))
        for n, port in enumerate(ports)
    ]
    token = issue_token(user=user)
    urls = [
        f"ws://127.0.0.1:{ports[n % 2]}/ws/threads/{thread.id}/?token={token}"
        for n in range(ATTEMPTS)
    ]
    try:
        kinds, live = asyncio.run(_flood(urls, user))
    finally:
        for web in webs:
            stop(web)
    assert kinds.count("hello") == LIMIT and live == LIMIT
    assert sorted(set(kinds)) == ["hello", "rate_limited"]


def test_two_handshakes_counting_at_once_cannot_both_take_the_last_slot(thread, user, monkeypatch):
    """The race itself, made certain: each handshake waits after counting until the other has
    counted too. Under the per-user lock the second cannot count until the first committed."""
    counted, real_count = threading.Barrier(2, timeout=2), progress.live_sockets

    def count_then_wait(**kwargs):
        found = real_count(**kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait()  # broken after 2 s when the other is held at the lock
        return found

    monkeypatch.setattr(progress, "live_sockets", count_then_wait)
    outcomes: list[str] = []

    def handshake() -> None:
        try:
            progress.open_connection(
                thread_id=thread.id, user_id=user.pk, resumed_from=0, sockets_limit=1
            )
            outcomes.append("opened")
        except RateLimited:
            outcomes.append("refused")
        finally:
            db.connection.close()

    both = [threading.Thread(target=handshake) for _ in range(2)]
    for each in both:
        each.start()
    for each in both:
        each.join(timeout=10)
    assert sorted(outcomes) == ["opened", "refused"]
    assert Connection.objects.filter(user=user).count() == 1
