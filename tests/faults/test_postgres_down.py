"""PostgreSQL unavailable: emit raises, readiness fails, nothing half-written, and recovery
needs no manual repair."""

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from delivery.models import Event, Thread
from tests.delivery.wsclient import db
from tests.faults.scenario import clients_for, emit_round_robin, finish, full_delivery
from tests.processes import ROOT, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


def _closed_port_url() -> str:
    return f"postgres://postgres@127.0.0.1:{free_port()}/ledgerline"


def _emit_without_database(env: dict, thread_id: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.db_down_emitter", thread_id],
        cwd=ROOT, env={**env, "DATABASE_URL": _closed_port_url()},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ready_status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/ready", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


def _cut_stack_sessions(application_name: str, run_done: threading.Event) -> int:
    """Terminate the stack's sessions (daphne's, the worker's, the beat's) on the test
    database, polling on one connection, until the run is over and some were cut (at most
    20 s). Returns how many were cut."""
    cut, deadline = 0, time.monotonic() + 20
    try:
        with connection.cursor() as cursor:
            while time.monotonic() < deadline and not (run_done.is_set() and cut):
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = %s",
                    [application_name],
                )
                cut += cursor.fetchone()[0]
                time.sleep(0.005)
    finally:
        connection.close()
    return cut


def _ledger_state(thread_id: str) -> tuple[int, int]:
    events = Event.objects.filter(thread_id=thread_id).count()
    return Thread.objects.get(pk=thread_id).last_seq, events


async def test_emit_raises_and_readiness_fails_without_a_database(stack, user, figures):
    port = stack.start_daphne()
    stack.start_worker()
    clients = await clients_for(user, 2, [port])
    ids = [c.thread_id for c in clients]
    await emit_round_robin(ids, 20)
    await full_delivery(clients, timeout=30)
    before = await db(_ledger_state)(ids[0])

    seen = await asyncio.to_thread(_emit_without_database, stack.env, ids[0])
    assert seen == {"raised": "LedgerWriteFailed", "code": "ledger_write_failed"}
    no_db_port = stack.start_daphne("web-no-db", DATABASE_URL=_closed_port_url())
    assert await asyncio.to_thread(_ready_status, no_db_port) == 503
    assert await db(_ledger_state)(ids[0]) == before  # nothing half-written

    run_done = threading.Event()
    cutter = asyncio.create_task(
        asyncio.to_thread(_cut_stack_sessions, stack.env["PGAPPNAME"], run_done)
    )
    await emit_round_robin(ids, 60, pause=0.05)  # its sessions are cut again and again
    run_done.set()
    cut = await cutter  # daphne and the worker reconnect by themselves
    seconds = await full_delivery(clients, timeout=30)
    outcome = await finish(
        clients, figures, seconds=seconds, port=port, scenario="7. PostgreSQL unavailable",
        injected="emit and a daphne pointed at a closed port; then pg_terminate_backend "
        f"of {cut} stack sessions on the test database during a run",
        notes="emit raised LedgerWriteFailed; /healthz/ready 503; no repair needed",
    )  # fmt: skip
    assert (outcome.lost, outcome.rendered_twice, outcome.undelivered) == (0, 0, 0)
    assert outcome.events == 80
    assert cut > 0
