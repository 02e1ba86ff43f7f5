"""The channel layer's Redis is killed mid-stream and comes back empty a few seconds later."""

import asyncio

import pytest

from delivery import metrics
from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

THREADS, EVENTS, OUTAGE = 5, 400, 3.0


async def test_redis_restarted_empty_mid_stream_loses_nothing(stack, user, figures):
    port = stack.start_daphne()
    stack.start_worker()
    clients = await clients_for(user, THREADS, [port])
    failed_before = metrics.events_failed.labels(cause="fast_path")._value.get()
    agent = asyncio.create_task(
        emit_round_robin([c.thread_id for c in clients], EVENTS, pause=0.02)
    )
    while sum(len(c.rendered) for c in clients) < EVENTS // 5:
        await asyncio.sleep(0.02)
    stack.kill_redis()
    await asyncio.sleep(OUTAGE)
    stack.start_redis()  # empty: no groups, no channels, no queued messages
    await asyncio.wait_for(agent, timeout=60)  # the agent never saw an exception
    seconds = await full_delivery(clients, timeout=60)
    failed = metrics.events_failed.labels(cause="fast_path")._value.get() - failed_before
    outcome = await finish(
        clients, figures, seconds=seconds, port=port, scenario="2. Redis restart",
        injected=f"SIGKILL of the channel layer's redis-server after ~{EVENTS // 5} events, "
        f"restarted empty {OUTAGE:.0f}s later",
        notes=f"fast-path sends failed {failed:.0f}; no operator action",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert failed > 0  # the outage really hit the agent's fast path
