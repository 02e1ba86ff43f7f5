"""Where each thread lives in a sharded cluster: its group's shard, its socket's daphne, and
the shard that daphne's inbox is on.

channels_redis puts a group on the shard its name hashes to, and every channel of one daphne
process on the shard of the process's random client prefix (`specific.<prefix>!`), which is
where that daphne waits for messages. A shard's loss therefore reaches a thread through either.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass

from channels.layers import get_channel_layer

from delivery.fastpath.frames import group_name
from delivery.models import Connection, ConnectionState, Thread
from tests.delivery.wsclient import db, token_for
from tests.factories import ThreadFactory, UserFactory
from tests.faults.client import RenderingClient
from tests.faults.scenario import connected


@dataclass(frozen=True)
class Socket:
    """A thread's newest live connection: the daphne process serving it, and its channel."""

    pid: int
    channel: str


def group_shard(thread_id: str) -> int:
    """The shard the thread's group lives on."""
    return get_channel_layer().consistent_hash(group_name(uuid.UUID(thread_id)))


def inbox_shard(channel: str) -> int:
    """The shard a channel's daphne process receives on."""
    layer = get_channel_layer()
    return layer.consistent_hash(layer.non_local_name(channel))


def sockets(thread_ids: list[str]) -> dict[str, Socket]:
    """Each thread's newest live connection (sync: ORM)."""
    rows = (
        Connection.objects.filter(thread_id__in=thread_ids, state=ConnectionState.LIVE)
        .order_by("opened_at")
        .values_list("thread_id", "server", "channel_name")
    )
    return {
        str(thread): Socket(int(server.rpartition(":")[2]), channel)
        for thread, server, channel in rows
    }


async def placed(thread_ids: list[str], timeout: float = 10) -> dict[str, Socket]:
    """Each thread's socket, once every thread has one (a client counts as connected at its
    handshake, a moment before the consumer records its connection)."""
    deadline = time.monotonic() + timeout
    while len(found := await db(sockets)(thread_ids)) < len(thread_ids):
        assert time.monotonic() < deadline, f"only {len(found)} of {len(thread_ids)} sockets"
        await asyncio.sleep(0.05)
    return found


def new_threads(count: int, *, shards: int = 0) -> list[Thread]:
    """`count` threads, each owned by a new user (one socket per user, as in production, so
    the per-user socket budget never binds). With `shards`, their groups are spread evenly over
    that many shards. Sync: ORM."""
    chosen: list[uuid.UUID] = []
    per_shard = {shard: count // shards for shard in range(shards)} if shards else {}
    while len(chosen) < count:
        candidate = uuid.uuid4()
        if shards:
            shard = group_shard(str(candidate))
            if not per_shard[shard]:
                continue
            per_shard[shard] -= 1
        chosen.append(candidate)
    return [ThreadFactory(id=thread_id, owner=UserFactory()) for thread_id in chosen]


async def clients_of_new_users(
    count: int, ports: list[int], *, shards: int = 0
) -> list[RenderingClient]:
    """A started rendering client on each of `count` new threads (`new_threads`), with its
    owner's token, once all are connected."""
    threads = await db(new_threads)(count, shards=shards)
    tokens = [await token_for(thread.owner) for thread in threads]
    clients = [
        RenderingClient(str(thread.pk), token, ports)
        for thread, token in zip(threads, tokens, strict=True)
    ]
    for client in clients:
        client.start()
    await connected(clients, timeout=20)
    return clients


def busiest(placed: dict[str, Socket]) -> int:
    """The pid of the daphne serving the most of these sockets."""
    pids = [socket.pid for socket in placed.values()]
    return max(set(pids), key=pids.count)
