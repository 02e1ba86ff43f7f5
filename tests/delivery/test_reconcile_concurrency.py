"""Two reconcilers at once: per-thread claims split the work; nothing is sent or counted twice."""

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from delivery import emit_many
from delivery.ledger.selectors import EventState
from delivery.models import DeliveryAttempt, Thread, Trigger
from delivery.repair.reconcile import reconcile, schedule_checks
from monitoring.models import Alert
from tests.delivery.wsclient import connect, db, receive_events
from tests.factories import ThreadFactory
from tests.ledger import states
from tests.monitoring.sampling import sample
from tests.processes import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

COUNT = 60


def _two_reconcilers_at_once():
    barrier, reports = threading.Barrier(2), []

    def run():
        try:
            barrier.wait()
            reports.append(reconcile())
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return reports


async def test_two_reconcilers_retry_each_event_once(thread, user, fast_timings):
    fast_timings(ACK_DEADLINE=0.1, RETRY_BUDGET=10)
    ws, _ = await connect(thread, user)
    await db(emit_many)(thread, [("step", {"i": i}) for i in range(COUNT)])
    await receive_events(ws, COUNT)
    await asyncio.sleep(0.15)
    reports = await db(_two_reconcilers_at_once)()
    assert sum(r.retried for r in reports) == COUNT
    retried = await receive_events(ws, COUNT)
    assert sorted(f["seq"] for f in retried) == list(range(1, COUNT + 1))  # each seq once
    assert await ws.receive_nothing(timeout=0.3)
    rows = await db(
        lambda: [
            a.event_count
            for a in DeliveryAttempt.objects.filter(trigger=Trigger.RETRY, connection__isnull=True)
        ]
    )()
    assert sum(rows) == COUNT
    rendered = _render([], retried)
    assert rendered == list(range(1, COUNT + 1))
    await ws.disconnect()


async def test_two_reconcilers_mark_each_event_undelivered_once(thread, user, fast_timings):
    fast_timings(ACK_DEADLINE=0.1, RETRY_BUDGET=1)
    before = sample("silent_failure_detected_total", kind="unacked")
    ws, _ = await connect(thread, user)
    await db(emit_many)(thread, [("step", {"i": i}) for i in range(COUNT)])
    await receive_events(ws, COUNT)
    await asyncio.sleep(0.15)
    reports = await db(_two_reconcilers_at_once)()
    assert sum(r.undelivered for r in reports) == COUNT
    assert sample("silent_failure_detected_total", kind="unacked") == before + COUNT
    assert set((await db(states)(thread)).values()) == {EventState.UNDELIVERED}
    assert await db(Alert.objects.filter(kind="undelivered", thread=thread).count)() == 1
    await ws.disconnect()


def _render(rendered: list[int], frames: list[dict]) -> list[int]:
    """What a client shows: each seq once, in order (DESIGN: exactly-once rendering)."""
    seen = set(rendered)
    for frame in sorted(frames, key=lambda f: f["seq"]):
        if frame["seq"] not in seen:
            seen.add(frame["seq"])
            rendered.append(frame["seq"])
    return rendered


async def test_two_reconciler_processes_send_each_retry_once(thread, user, fast_timings):
    """Two OS processes sweep the same ledger on tight loops while a client never acks."""
    count, budget = 20, 3
    fast_timings(PING_INTERVAL=60.0, PING_TIMEOUT=120.0)  # this client never pongs either
    ws, _ = await connect(thread, user)
    await db(emit_many)(thread, [("step", {"i": i}) for i in range(count)])
    await receive_events(ws, count)
    env = subprocess_env(LEDGERLINE_ACK_DEADLINE="0.2", LEDGERLINE_RETRY_BUDGET=str(budget))
    reconcilers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.delivery.reconciler_process",
            "4.0",
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.gather(*(r.communicate() for r in reconcilers))
    reports = [json.loads(out.decode().splitlines()[-1]) for out, _ in outputs]
    retries = [frame async for frame in _events_until_quiet(ws)]
    assert sum(r["retried"] for r in reports) == count * (budget - 1)
    assert sum(r["undelivered"] for r in reports) == count
    assert sum(r["silent_failures"] for r in reports) == count
    per_seq = Counter(frame["seq"] for frame in retries)
    assert per_seq == dict.fromkeys(range(1, count + 1), budget - 1)  # never an extra send
    assert _render([], retries) == list(range(1, count + 1))
    rows = await db(
        lambda: sum(
            a.event_count
            for a in DeliveryAttempt.objects.filter(trigger=Trigger.RETRY, connection__isnull=True)
        )
    )()
    assert rows == count * (budget - 1)
    assert await db(Alert.objects.filter(kind="undelivered", thread=thread).count)() == 1
    await ws.disconnect()


async def _events_until_quiet(ws):
    # receive_nothing waits without cancelling the application (a receive timeout would).
    while not await ws.receive_nothing(timeout=0.5):
        frame = await ws.receive_json_from()
        if frame["type"] == "event":
            yield frame


def _session() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
        dbname=settings["NAME"], autocommit=False,
    )  # fmt: skip


def _wait_until_blocked(statement: str, timeout: float = 5.0) -> None:
    """Until a backend running `statement` waits for a lock. Watched from a session of its
    own: inside a transaction, pg_stat_activity answers from a snapshot."""
    deadline = time.monotonic() + timeout
    with _session() as watcher:
        watcher.autocommit = True
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE %s",
                [f"%{statement}%"],
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError(f"no backend waited on a lock while running {statement!r}")


def test_reconciler_locks_threads_in_the_order_progress_writers_do(user):
    """The interleaving that deadlocked an emit behind nginx: a daphne writing acks holds the
    lower thread and then wants the higher one, while the reconciler records its schedule for
    both. Locking in id order, the reconciler waits at the lower row and never takes the higher
    one first, so the daphne gets it at once and both finish."""
    low, high = sorted(
        (uuid.UUID(int=2**127 + 1), uuid.UUID(int=2**127 + 2)), key=lambda id: id.int
    )
    for id in (high, low):  # the higher row first on disk too, so no scan order hides the bug
        ThreadFactory(id=id, owner=user)
    daphne = _session()
    outcome: list[BaseException | None] = []

    def reconciler() -> None:
        try:
            with transaction.atomic():
                at = timezone.now()
                schedule_checks({high: at, low: at}, read_at=at)  # the plan's order, not ids'
            outcome.append(None)
        except BaseException as error:  # reported by the assertion below
            outcome.append(error)
        finally:
            connection.close()

    lock = "SELECT 1 FROM delivery_thread WHERE id = %s FOR NO KEY UPDATE"
    try:
        daphne.execute(lock, [low])
        worker = threading.Thread(target=reconciler)
        worker.start()
        _wait_until_blocked("reconcile_after")
        daphne.execute("SET lock_timeout = '5s'")
        daphne.execute(lock, [high])  # a deadlock or a timeout raises here
        daphne.commit()
    finally:
        daphne.close()
    worker.join(10)
    assert outcome == [None]
    assert Thread.objects.filter(pk__in=[low, high], reconcile_after__isnull=False).count() == 2
