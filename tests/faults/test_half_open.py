"""A client stops reading without closing (half-open): found dead within the heartbeat bound."""

import asyncio
import time

import pytest

from delivery.models import Connection, ConnectionState
from tests.delivery.wsclient import db
from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

PING_INTERVAL, PING_TIMEOUT = 0.5, 2.0
BOUND = PING_INTERVAL + PING_TIMEOUT + 2.0  # the heartbeat bound, plus scheduling slack


def _dead_connection(thread_id: str) -> Connection | None:
    return Connection.objects.filter(thread_id=thread_id, state=ConnectionState.DEAD).first()


async def test_half_open_client_is_marked_dead_and_resumes(stack, user, figures):
    stack.env.update(
        LEDGERLINE_PING_INTERVAL=str(PING_INTERVAL), LEDGERLINE_PING_TIMEOUT=str(PING_TIMEOUT)
    )
    port = stack.start_daphne()
    stack.start_worker()
    clients = await clients_for(user, 3, [port])
    stalled, ids = clients[0], [c.thread_id for c in clients]
    await emit_round_robin(ids, 30)
    await full_delivery(clients, timeout=30)
    stalled.paused = True  # reads nothing more, answers no ping, never closes
    paused_at = time.monotonic()
    agent = asyncio.create_task(emit_round_robin(ids, 60, pause=0.05))
    while (dead := await db(_dead_connection)(stalled.thread_id)) is None:
        assert time.monotonic() - paused_at < BOUND + 5, "half-open socket never found"
        await asyncio.sleep(0.1)
    detected = time.monotonic() - paused_at
    await agent
    stalled.paused = False  # the client wakes up, finds its socket closed and reconnects
    seconds = await full_delivery(clients, timeout=30)
    outcome = await finish(
        clients, figures, seconds=seconds, port=port, scenario="4. half-open client",
        injected="1 of 3 clients stops reading (no close, no pong) during a run",
        notes=f"marked dead with {dead.close_code} after {detected:.1f}s "
        f"(bound {BOUND:.1f}s); resumed on reconnect",
    )  # fmt: skip
    assert dead.close_code == 4408
    assert detected < BOUND
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert stalled.connects >= 2
