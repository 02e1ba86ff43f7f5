"""Faults on the scaled-out cluster: nginx over three daphnes, two layer shards, two workers.

Each scenario starts its own cluster (tests/faults/cluster.py) and ends with the shared check:
every client rendered its thread's whole ledger, in order, nothing twice.
"""

import asyncio
import time
from contextlib import contextmanager

import pytest
from channels.layers import channel_layers

from delivery import metrics
from tests.faults.cluster import ClusterStack, Worker
from tests.faults.placement import (
    busiest,
    clients_of_new_users,
    group_shard,
    inbox_shard,
    placed,
)
from tests.faults.scenario import emit_round_robin, finish, full_delivery
from tests.faults.test_cluster_config import needs_nginx

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process, needs_nginx]


@pytest.fixture
def cluster(tmp_path, settings):
    """The cluster's processes (started by each test), and this test process's channel layer
    on the same shards, in the same order, so its fast path reaches the cluster's daphnes."""
    stack = ClusterStack(tmp_path)
    default = settings.CHANNEL_LAYERS["default"]
    config = {**default["CONFIG"], "hosts": stack.shard_urls, "prefix": stack.prefix}
    settings.CHANNEL_LAYERS = {"default": {**default, "CONFIG": config}}
    channel_layers.backends = {}
    try:
        yield stack
    finally:
        channel_layers.backends = {}
        stack.close()


def rendered(clients) -> int:
    """Events on screen, over every client."""
    return sum(len(c.rendered) for c in clients)


async def test_daphne_killed_behind_nginx_its_clients_resume_elsewhere(cluster, figures):
    threads, events = 12, 900
    cluster.start()
    clients = await clients_of_new_users(threads, [cluster.nginx_port])
    ids = [c.thread_id for c in clients]
    where = await placed(ids)
    victim = busiest(where)
    moved = {thread for thread, socket in where.items() if socket.pid == victim}
    agent = asyncio.create_task(emit_round_robin(ids, events, pause=0.004))
    while rendered(clients) < events // 4:
        await asyncio.sleep(0.02)
    cluster.kill_daphne(next(p for p in cluster.daphne_ports if cluster.daphne_pid(p) == victim))
    await asyncio.wait_for(agent, timeout=120)
    seconds = await full_delivery(clients, timeout=90)
    after = await placed(ids)
    reconnected = {c.thread_id for c in clients if c.connects >= 2}
    outcome = await finish(
        clients, figures, seconds=seconds, port=cluster.live_daphne_port(),
        scenario="C1. cluster: daphne SIGKILL behind nginx",
        injected=f"SIGKILL of the daphne serving {len(moved)} of {threads} sockets (3 daphnes "
        f"behind nginx) after ~{events // 4} events",
        notes=f"{len(moved)} clients reconnected through nginx to the other daphnes and "
        f"resumed; {len(reconnected - moved)} others reconnected",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert moved and moved <= reconnected  # every client of the dead daphne really moved
    assert all(after[thread].pid != victim for thread in moved)  # ... to another daphne


async def test_redis_shard_killed_spares_the_other_shard_and_loses_nothing(cluster, figures):
    per_shard, events, outage = 6, 900, 3.0
    cluster.start()
    clients = await clients_of_new_users(2 * per_shard, [cluster.nginx_port], shards=2)
    ids = [c.thread_id for c in clients]
    where = await placed(ids)
    inboxes = {socket.pid: inbox_shard(socket.channel) for socket in where.values()}
    # Lose the shard fewer daphne inboxes are on, so some daphnes and groups outlive it.
    lost = min((0, 1), key=lambda shard: list(inboxes.values()).count(shard))
    hit = {t for t in ids if group_shard(t) == lost or inboxes[where[t].pid] == lost}
    # Sockets whose daphne outlives the shard but whose group was on it: they stay connected,
    # join again once the shard is back (empty), and fetch what they missed from the ledger.
    regrouped = {t for t in hit if inboxes[where[t].pid] != lost}
    spared = [c for c in clients if c.thread_id not in hit]
    failed_before = metrics.events_failed.labels(cause="fast_path")._value.get()
    agent = asyncio.create_task(emit_round_robin(ids, events, pause=0.01))
    while rendered(clients) < events // 5:
        await asyncio.sleep(0.02)
    cluster.kill_shard(lost)
    await asyncio.sleep(0.5)  # frames already in flight land first
    before = {c.thread_id: len(c.rendered) for c in clients}
    await asyncio.sleep(outage - 0.5)
    grew = {c.thread_id for c in clients if len(c.rendered) > before[c.thread_id]}
    cluster.restart_shard(lost)  # empty: the lost groups come back as their sockets re-join
    await asyncio.wait_for(agent, timeout=60)
    seconds = await full_delivery(clients, timeout=60)
    failed = metrics.events_failed.labels(cause="fast_path")._value.get() - failed_before
    dead_inboxes = list(inboxes.values()).count(lost)
    stayed = {c.thread_id for c in clients if c.connects == 1}
    noticed = [log.read_text().count("lost its groups") for log in cluster.daphne_logs()]
    outcome = await finish(
        clients, figures, seconds=seconds, port=cluster.live_daphne_port(),
        scenario="C2. cluster: one Redis shard SIGKILL",
        injected=f"SIGKILL of shard {lost + 1} of 2 after ~{events // 5} events, restarted "
        f"empty {outage:.0f}s later; {len(hit)} threads had their group or their daphne's "
        f"inbox on it ({dead_inboxes} of 3 daphne inboxes)",
        notes=f"{len(spared)} threads wholly on the other shard rendered through the outage "
        f"without reconnecting; of the {len(hit)} on the lost one, {len(hit - grew)} rendered "
        f"nothing until it returned, then caught up from the ledger, {len(regrouped & stayed)} "
        f"of them without reconnecting (their daphne joined their group again); fast-path "
        f"sends failed {failed:.0f}",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert failed > 0  # the outage really hit the fast path
    assert spared, "no thread was on the surviving shard"
    assert all(c.connects == 1 and c.thread_id in grew for c in spared)  # unaffected
    assert regrouped, "no thread had its group alone on the lost shard"
    assert regrouped <= stayed  # healed in place: joined again, caught up from the ledger
    assert sum(noticed) >= 1  # a daphne saw the shard come back empty


@contextmanager
def fast_path_to_nobody(settings):
    """This process's fast path goes to a layer prefix no daphne listens on: the events wait
    in the ledger, and only the reconciler delivers them."""
    default = settings.CHANNEL_LAYERS["default"]
    config = {**default["CONFIG"], "prefix": f"{default['CONFIG']['prefix']}-nobody"}
    settings.CHANNEL_LAYERS = {"default": {**default, "CONFIG": config}}
    channel_layers.backends = {}
    try:
        yield
    finally:
        settings.CHANNEL_LAYERS = {"default": default}
        channel_layers.backends = {}


async def in_flight_reconcile(workers: list[Worker], timeout: float = 30) -> Worker:
    """The first worker seen running a reconcile task (received, not finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            received, succeeded = worker.reconciles()
            if received - succeeded:
                return worker
        await asyncio.sleep(0.005)
    raise AssertionError("no reconcile task was seen in flight")


async def test_worker_killed_mid_reconcile_the_other_carries_on(cluster, settings, figures):
    threads, events = 40, 1600
    cluster.start(beat=False)
    clients = await clients_of_new_users(threads, [cluster.nginx_port])
    with fast_path_to_nobody(settings):
        await emit_round_robin([c.thread_id for c in clients], events)
    cluster.start_beat()
    victim = await in_flight_reconcile(cluster.workers)
    cluster.kill_worker(victim)
    at_kill = rendered(clients)
    (survivor,) = [worker for worker in cluster.workers if worker is not victim]
    finished_before = len(survivor.reconciles()[1])
    seconds = await full_delivery(clients, timeout=60)
    finished_after = len(survivor.reconciles()[1]) - finished_before
    outcome = await finish(
        clients, figures, seconds=seconds, port=cluster.live_daphne_port(),
        scenario="C3. cluster: one of two workers SIGKILL mid-reconcile",
        injected=f"{events} pending events on {threads} threads (fast path missed); beat "
        "started, the worker running the first reconcile SIGKILLed during it",
        notes=f"{at_kill} rendered at the kill; the other worker ran {finished_after} "
        "reconciles and delivered the rest",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert finished_after > 0  # the survivor carried on
