"""Redis stops while the agent emits: nothing raises, nothing is lost, nobody intervenes.

The test runs its OWN redis-server on a free port for the channel layer (never the shared
one), a real daphne, a real Celery worker with beat (the reconciler) and the agent as its own
process; a reconnecting `websockets` client renders each seq once and acks.
"""

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import websockets
from django.conf import settings

from delivery.models import Thread
from tests.delivery.wsclient import db, token_for
from tests.monitoring.scrape import value
from tests.processes import ROOT, free_port, start_daphne, stop, subprocess_env, wait_for_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


def start_redis(port: int, log_path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--logfile", str(log_path)],
    )  # fmt: skip
    wait_for_port(port, process=process)
    return process


def start_worker_with_beat(env: dict, tmp_path) -> subprocess.Popen:
    log_path = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-B",
         "-s", str(tmp_path / "beat-schedule"), "-Q", env["LEDGERLINE_TEST_RUN"],
         "--pool", "threads", "--concurrency", "2", "--without-gossip", "--without-mingle",
         "-n", f"outage-{uuid.uuid4().hex[:6]}@%h", "-l", "info"],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while "ready." not in log_path.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)
    return process


async def emit_in_agent_process(env: dict, thread_id, count: int) -> dict:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.delivery.outage_emitter", str(thread_id), str(count),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(agent.communicate(), timeout=60)
    assert agent.returncode == 0, err.decode()[-3000:]  # the agent saw no exception
    return json.loads(out.decode().strip().splitlines()[-1])


async def reconnecting_client(url: str, rendered: list[int]) -> None:
    """Render each seq once, ack the contiguous prefix, reconnect whenever the socket drops."""
    while True:
        after = len(rendered)
        try:
            async with websockets.connect(f"{url}&after={after}", open_timeout=2) as ws:
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame["type"] == "ping":
                        await ws.send(json.dumps({"type": "pong", "t": frame["t"]}))
                    elif frame["type"] == "event":
                        if frame["seq"] == len(rendered) + 1:
                            rendered.append(frame["seq"])
                        await ws.send(json.dumps({"type": "ack", "seq": len(rendered)}))
        except (OSError, websockets.WebSocketException, TimeoutError):
            pass
        await asyncio.sleep(0.2)


async def wait_until(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.fixture
def outage_stack(tmp_path):
    port, web_port, processes = free_port(), free_port(), []
    env = subprocess_env(
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        LEDGERLINE_TEST_RUN=f"outage-{uuid.uuid4().hex[:8]}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        LEDGERLINE_RECONCILE_INTERVAL="0.3",
        LEDGERLINE_ACK_DEADLINE="1.0",
        LEDGERLINE_PING_INTERVAL="0.5",
        LEDGERLINE_PING_TIMEOUT="3.0",
        LEDGERLINE_HEARTBEAT_PERSIST_INTERVAL="1.0",
        LEDGERLINE_CANARY_INTERVAL="3600",
    )
    (tmp_path / "prometheus").mkdir()
    redis = {"process": start_redis(port, tmp_path / "redis.log"), "port": port}
    processes.append(start_daphne(web_port, tmp_path / "web.log", **env))
    processes.append(start_worker_with_beat(env, tmp_path))
    yield env, web_port, redis, tmp_path
    for process in [*processes, redis["process"]]:
        stop(process)


async def test_redis_outage_loses_nothing_and_heals_itself(outage_stack, thread, user):
    env, web_port, redis, tmp_path = outage_stack
    token = await token_for(user)
    url = f"ws://127.0.0.1:{web_port}/ws/threads/{thread.id}/?token={token}"
    rendered: list[int] = []
    client = asyncio.create_task(reconnecting_client(url, rendered))
    try:
        await emit_in_agent_process(env, thread.id, 3)
        await wait_until(lambda: _async(len(rendered) == 3), timeout=15)

        redis["process"].terminate()
        redis["process"].wait(10)
        during = await emit_in_agent_process(env, thread.id, 5)
        assert during["seqs"] == [4, 5, 6, 7, 8]  # committed to the ledger all the same
        assert during["failed"] == 5  # websocket_events_failed_total{cause="fast_path"}

        redis["process"] = await asyncio.to_thread(start_redis, redis["port"], tmp_path / "r2.log")
        acked = db(lambda: Thread.objects.get(pk=thread.pk).acked_seq)
        await wait_until(lambda: _equals(acked, 8), timeout=30)
    finally:
        client.cancel()
    assert rendered == list(range(1, 9))  # every seq rendered once, in order
    metrics = await asyncio.to_thread(_scrape, web_port)
    assert value(metrics, "websocket_events_failed_total", cause="fast_path") >= 5


async def _async(result):
    return result


async def _equals(count, expected: int) -> bool:
    return await count() == expected


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()
