"""Steps shared by the fault scenarios: threads, clients, an emitting agent, the final wait."""

import asyncio
import dataclasses
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from delivery import emit
from delivery.models import Thread
from tests.delivery.wsclient import db, token_for
from tests.factories import ThreadFactory
from tests.faults.client import RenderingClient
from tests.faults.ledger_check import Outcome, check_zero_silent_loss


async def clients_for(user, count: int, ports: list[int], **options) -> list[RenderingClient]:
    """`count` new threads owned by `user`, each with a started rendering client."""
    token = await token_for(user)
    threads = await db(lambda: [ThreadFactory(owner=user) for _ in range(count)])()
    clients = [RenderingClient(str(t.pk), token, ports, **options) for t in threads]
    for client in clients:
        client.start()
    await connected(clients, timeout=20)
    return clients


async def connected(clients: list[RenderingClient], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(c.connects == 0 for c in clients):
        assert time.monotonic() < deadline, "clients did not connect"
        await asyncio.sleep(0.05)


async def emit_round_robin(thread_ids: list[str], count: int, pause: float = 0.0) -> None:
    """The agent: `count` events spread over the threads, one emit per event."""

    def run() -> None:
        for i in range(count):
            emit(thread_ids[i % len(thread_ids)], "step", {"i": i})
            if pause:
                time.sleep(pause)

    await db(run)()


async def full_delivery(clients: list[RenderingClient], timeout: float) -> float:
    """Seconds until every client rendered its thread's whole ledger and the ledger shows acks."""
    start = time.monotonic()
    lasts = await db(lambda: {c.thread_id: _last_seq(c.thread_id) for c in clients})()
    for client in clients:
        await client.wait_for(lasts[client.thread_id], timeout - (time.monotonic() - start))
    ids = [c.thread_id for c in clients]
    while await db(_open_count)(ids):
        assert time.monotonic() - start < timeout, "events left unacknowledged in the ledger"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def _last_seq(thread_id: str) -> int:
    return Thread.objects.values_list("last_seq", flat=True).get(pk=thread_id)


def _open_count(thread_ids: list[str]) -> int:
    """Events neither acknowledged nor given up on (in an open undelivered range)."""
    from delivery.ledger.selectors import open_undelivered

    total = 0
    for thread in Thread.objects.filter(pk__in=thread_ids):
        ceiling = max([r.last_seq for r in open_undelivered(thread=thread)], default=0)
        total += thread.last_seq - max(thread.acked_seq, ceiling)
    return total


async def finish(
    clients: list[RenderingClient], figures, *, seconds: float, port: int, **row
) -> Outcome:
    """Stop the clients, run the shared check, check /metrics of the daphne on `port` agrees
    with the ledger, record the figures row."""
    for client in clients:
        await client.stop()
    outcome = await db(check_zero_silent_loss)(clients)
    scraped = await asyncio.to_thread(_scrape, port)
    assert 'ledger_unacked_events{client="live",le="+Inf",state="sent"}' in scraped
    assert _sum(scraped, "ledger_unacked_events", le="+Inf") == 0  # the ledger's own view
    # Every event flagged undelivered was counted as a caught silent failure, and no other.
    assert _sum(scraped, "silent_failure_detected_total", kind="unacked") == outcome.undelivered
    figures(**dataclasses.asdict(outcome), seconds=f"{seconds:.1f}", **row)
    return outcome


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def _sum(text: str, name: str, **labels: str) -> float:
    """A series' total over the label values not given; 0 when it was never incremented."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
