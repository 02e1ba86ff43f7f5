"""One client reads very slowly during a burst: the other threads are not held back."""

import time

import pytest

from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

THREADS, EVENTS, READ_DELAY = 6, 900, 0.03
DOCUMENTED_CLOSES = {None, 1000, 1006, 1011, 4408, 4500}


async def test_slow_consumer_does_not_hold_back_other_threads(stack, user, figures):
    port = stack.start_daphne()
    stack.start_worker()
    clients = await clients_for(user, THREADS, [port])
    slow, others = clients[0], clients[1:]
    slow.read_delay = READ_DELAY  # about 33 frames a second
    start = time.monotonic()
    await emit_round_robin([c.thread_id for c in clients], EVENTS)
    emitted = time.monotonic() - start
    fast = await full_delivery(others, timeout=30)
    seconds = await full_delivery([slow], timeout=90)
    outcome = await finish(
        clients, figures, seconds=seconds, port=port, scenario="5. slow consumer",
        injected=f"1 of {THREADS} clients sleeps {READ_DELAY * 1000:.0f} ms per frame "
        f"during a {EVENTS}-event burst",
        notes=f"burst emitted in {emitted:.1f}s; other threads fully delivered {fast:.1f}s "
        f"after it; slow client "
        f"reconnected {slow.connects - 1} time(s), closes {sorted(set(map(str, slow.closes)))}",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert set(slow.closes) <= DOCUMENTED_CLOSES
    assert fast < 10  # the other threads did not wait for the slow one
