"""The cost of resume: a client reconnects with `?after=0` and the ledger backfills its thread.

Plain Channels has no resume (what a socket missed is gone), so there is no baseline column;
the figure is what a reconnect costs the user: time from opening the socket to the last event.
"""

import asyncio
import time

from bench.clients import Client
from bench.report import Table, median, publish
from bench.stack import BenchStack, Server

SIZES = (1_000, 10_000)
CHUNK = 500


def _thread_with_events(count: int) -> tuple[str, str]:
    from django.contrib.auth.models import User

    from delivery import emit_many
    from delivery.fastpath.publisher import publisher
    from delivery.models import Thread
    from delivery.wire.tokens import issue_token

    user, _ = User.objects.get_or_create(username="bench-resume")
    thread = Thread.objects.create(owner=user, title=f"resume {count}")
    for start in range(0, count, CHUNK):
        items = [("agent_step", {"t": 0.0, "i": i, "text": "x" * 200})
                 for i in range(start, min(count, start + CHUNK))]  # fmt: skip
        emit_many(thread, items)
    publisher.wait_idle(60)
    return str(thread.id), issue_token(user=user, label="bench resume")


async def _resume_seconds(url: str, count: int) -> float:
    client = Client(url, acks=True)
    began = time.perf_counter()
    await client.open()
    try:
        while client.seq < count:
            await asyncio.sleep(0.001)
        return time.perf_counter() - began
    finally:
        await client.close()


def run(stack: BenchStack, server: Server, *, repeats: int = 3) -> Table:
    table = Table(
        "Resume: reconnect with ?after=0 and receive the whole thread from the ledger",
        ["events", "median s", "best s", "events/s"],
    )
    for count in SIZES:
        thread_id, token = _thread_with_events(count)
        url = f"ws://127.0.0.1:{server.port}/ws/threads/{thread_id}/?token={token}&after=0"
        samples = [asyncio.run(_resume_seconds(url, count)) for _ in range(repeats)]
        table.add(count, median(samples), min(samples), count / median(samples))
    table.notes.append(
        f"median of {repeats} reconnects; the consumer reads BACKFILL_CHUNK events per query "
        "and the client acks every 100 ms as it goes"
    )
    return publish(table)
