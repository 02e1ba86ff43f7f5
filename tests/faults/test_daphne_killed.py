"""A daphne process is SIGKILLed mid-stream; its clients reconnect to a second daphne and resume."""

import asyncio

import pytest

from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

THREADS, EVENTS = 8, 800


async def test_killed_daphne_loses_nothing_and_renders_nothing_twice(stack, user, figures):
    first, second = stack.start_daphne("web-a"), stack.start_daphne("web-b")
    stack.start_worker()
    clients = await clients_for(user, THREADS, [first, second])
    agent = asyncio.create_task(
        emit_round_robin([c.thread_id for c in clients], EVENTS, pause=0.004)
    )
    while sum(len(c.rendered) for c in clients) < EVENTS // 4:
        await asyncio.sleep(0.02)
    stack.kill_daphne("web-a")
    await asyncio.wait_for(agent, timeout=120)
    seconds = await full_delivery(clients, timeout=90)
    injected = f"SIGKILL of the daphne serving all {THREADS} clients after ~{EVENTS // 4} events"
    outcome = await finish(
        clients, figures, seconds=seconds, port=second, scenario="3. daphne SIGKILL",
        injected=injected, notes="clients resume on a second daphne",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert all(c.connects >= 2 for c in clients)  # every client really moved
