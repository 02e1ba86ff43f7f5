"""A burst over channels_redis capacity (default 100 per channel, 60 s expiry).

The control, a plain `group_send` + `send_json` consumer with no ledger, loses events and
says nothing. Ledgerline, under the same burst, loses none: drops are counted, gaps healed
from the ledger and dropped tails redelivered.
"""

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from channels.layers import get_channel_layer

from delivery import emit, metrics
from tests.faults.control_app import plain_group
from tests.faults.scenario import clients_for, finish, full_delivery
from tests.monitoring.scrape import value

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

THREADS, EVENTS, AGENTS, IN_FLIGHT = 20, 3000, 4, 50


async def _plain_reader(port: int, thread: str, received: list[int], ready: asyncio.Event):
    async with websockets.connect(f"ws://127.0.0.1:{port}/plain/{thread}/") as ws:
        ready.set()
        while True:
            received.append(json.loads(await ws.recv())["seq"])


async def test_control_group_send_loses_events_silently(stack, figures):
    port = stack.start_daphne("control", app="tests.faults.control_app:application")
    threads = [f"t{i}" for i in range(THREADS)]
    received: dict[str, list[int]] = {t: [] for t in threads}
    ready = [asyncio.Event() for _ in threads]
    readers = [
        asyncio.create_task(_plain_reader(port, t, received[t], r))
        for t, r in zip(threads, ready, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), timeout=20)
    await asyncio.sleep(0.5)  # group_add happens before accept; give the readers a moment
    layer = get_channel_layer()
    start = time.monotonic()
    for first in range(0, EVENTS, IN_FLIGHT):  # the agents' emits, IN_FLIGHT at a time
        await asyncio.gather(
            *(
                layer.group_send(
                    plain_group(threads[i % THREADS]), {"type": "plain.event", "seq": i}
                )
                for i in range(first, min(first + IN_FLIGHT, EVENTS))
            )
        )
    await asyncio.sleep(3)  # far longer than the stack needs to drain what it kept
    for reader in readers:
        reader.cancel()
    got = sum(len(r) for r in received.values())
    figures(
        scenario="1a. burst, control (plain group_send)", events=EVENTS, threads=THREADS,
        lost=EVENTS - got, rendered_twice=0, seconds=f"{time.monotonic() - start:.1f}",
        injected=f"{EVENTS} events, {THREADS} groups, {IN_FLIGHT} group_sends in flight",
        notes="no ledger: nothing raised, nothing logged above INFO",
    )  # fmt: skip
    assert got < EVENTS  # the plain stack lost some, silently


def _burst(thread_ids: list[str]) -> None:
    """The agents: `AGENTS` threads emitting one event per emit, as fast as they can."""

    def agent(k: int) -> None:
        from django.db import connection

        try:
            for i in range(k, EVENTS, AGENTS):
                emit(thread_ids[i % len(thread_ids)], "burst", {"i": i})
        finally:
            connection.close()

    with ThreadPoolExecutor(AGENTS) as pool:
        list(pool.map(agent, range(AGENTS)))


async def test_ledgerline_loses_nothing_in_the_same_burst(stack, user, figures, caplog):
    stack.env["LEDGERLINE_ACK_DEADLINE"] = "8.0"  # the default: a burst is not a lost ack
    caplog.set_level(logging.WARNING, logger="delivery")
    port = stack.start_daphne()
    stack.start_worker()
    clients = await clients_for(user, THREADS, [port])
    dropped_before = metrics.events_dropped.labels(cause="channel_full")._value.get()
    start = time.monotonic()
    await asyncio.to_thread(_burst, [c.thread_id for c in clients])
    emitted = time.monotonic() - start
    seconds = await full_delivery(clients, timeout=90)
    dropped = metrics.events_dropped.labels(cause="channel_full")._value.get() - dropped_before
    scraped = await asyncio.to_thread(_scrape, port)
    healed = value(scraped, "websocket_gap_events_healed_total")
    redelivered = value(scraped, "websocket_redeliveries_total")
    outcome = await finish(
        clients, figures, seconds=seconds, port=port, scenario="1b. burst, Ledgerline",
        injected=f"{EVENTS} events, {THREADS} threads, {AGENTS} agents emitting one by one "
        f"in {emitted:.1f}s, capacity 100",
        notes=f"channel_full drops {dropped:.0f}, gap events healed {healed:.0f}, "
        f"redelivered {redelivered:.0f}",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert outcome.events == EVENTS
    # The producers' drops are summed: the first at once, then one line per 10 s interval.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 2 + emitted // 10, [r.getMessage() for r in warnings[:5]]
    assert dropped == 0 or any("dropped" in r.getMessage() for r in warnings)


def _scrape(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()
