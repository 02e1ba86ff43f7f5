"""The Celery worker (which also runs beat and the agent) is SIGKILLed mid-run and mid-reconcile."""

import asyncio
import time
from contextlib import contextmanager

import pytest
from channels.layers import channel_layers

from delivery.models import Event
from tests.delivery.wsclient import db
from tests.faults.client import send_message
from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


def _types(thread_id: str) -> list[tuple[str, dict]]:
    events = Event.objects.filter(thread_id=thread_id).order_by("seq")
    return list(events.values_list("type", "payload"))


async def test_run_interrupted_by_a_killed_worker_is_closed_as_failed(stack, user, figures):
    stack.env.update(LEDGERLINE_AGENT_STEP_DELAY="3.0", LEDGERLINE_RUN_TIMEOUT="3.0")
    port = stack.start_daphne()
    stack.start_worker()
    (client,) = await clients_for(user, 1, [port])
    await send_message(client, "what is 6*7")
    await client.wait_for(3, timeout=30)  # user_message, agent_started, agent_thinking
    stack.kill_worker()  # mid-run: the agent dies between its steps
    killed_at = time.monotonic()
    stack.start_worker()
    while (types := await db(_types)(client.thread_id))[-1][0] != "agent_failed":
        assert time.monotonic() - killed_at < 40, types
        await asyncio.sleep(0.2)
    seconds = await full_delivery([client], timeout=30)
    outcome = await finish(
        [client], figures, seconds=seconds, port=port, scenario="6a. worker killed mid-run",
        injected="SIGKILL of the worker running the agent between two steps (run timeout 3s)",
        notes=f"agent_failed {{reason: timeout}} {time.monotonic() - killed_at:.1f}s after kill",
    )  # fmt: skip
    assert [t for t, _ in types] == [
        "user_message",
        "agent_started",
        "agent_thinking",
        "agent_failed",
    ]
    assert types[-1][1]["reason"] == "timeout"
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)


@contextmanager
def fast_path_to_nobody(settings):
    """The test process's fast path goes to a layer prefix no daphne listens on, so events stay
    pending and only the reconciler can deliver them."""
    default = settings.CHANNEL_LAYERS["default"]
    config = {**default["CONFIG"], "prefix": f"{default['CONFIG']['prefix']}-nobody"}
    settings.CHANNEL_LAYERS = {"default": {**default, "CONFIG": config}}
    channel_layers.backends = {}
    try:
        yield
    finally:
        settings.CHANNEL_LAYERS = {"default": default}
        channel_layers.backends = {}


async def test_reconcile_interrupted_by_a_killed_worker_completes_next_run(
    stack, user, settings, figures
):
    port = stack.start_daphne()
    clients = await clients_for(user, 10, [port])
    with fast_path_to_nobody(settings):
        await emit_round_robin([c.thread_id for c in clients], 1500)
    stack.start_worker()
    while sum(len(c.rendered) for c in clients) == 0:
        await asyncio.sleep(0.01)
    stack.kill_worker()  # mid-reconcile: the sweep has started sending the pending events
    at_kill = sum(len(c.rendered) for c in clients)
    stack.start_worker()
    seconds = await full_delivery(clients, timeout=60)
    outcome = await finish(
        clients, figures, seconds=seconds, port=port, scenario="6b. worker killed mid-reconcile",
        injected="1500 pending events (fast path missed); worker SIGKILLed as the reconciler "
        "began sending them, then restarted",
        notes=f"{at_kill} rendered at the kill; the next worker's reconciler sent the rest",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
