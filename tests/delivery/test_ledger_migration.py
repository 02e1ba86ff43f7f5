"""A ledger written by the per-event-state schema migrates forward to watermarks and ranges.

A scratch database is migrated to the last schema with per-event state (delivery 0004),
seeded in SQL the way that schema's live path left it, then migrated to the latest schema by
`manage.py migrate` in a subprocess, as an operator would.
"""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from psycopg.conninfo import make_conninfo

from tests.processes import ROOT

pytestmark = pytest.mark.process

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
T1, T2 = uuid.uuid4(), uuid.uuid4()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _server_dsn(name: str) -> str:
    db = settings.DATABASES["default"]
    return make_conninfo(
        host=db.get("HOST") or "/tmp",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname=name,
    )


def _url(name: str) -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "/tmp"
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    if host.startswith("/"):
        return f"postgres://{auth}@/{name}?host={host}&port={db.get('PORT') or 5432}"
    return f"postgres://{auth}@{host}:{db.get('PORT') or 5432}/{name}"


def _manage(name: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_NAME"}
    env.update(DATABASE_URL=_url(name), DJANGO_SETTINGS_MODULE="config.settings.test")
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def scratch():
    name = f"ledgerline_migration_{os.getpid()}"
    with psycopg.connect(_server_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_server_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# (thread, seq, state, first_sent_at, last_sent_at, attempts, acked_at, cause)
EVENTS = [
    (T1, 1, "acked", at(1), at(1), 1, at(2), ""),
    (T1, 2, "acked", at(1), at(1), 1, at(2), ""),
    (T1, 3, "acked", at(3), at(3), 1, at(4), ""),
    (T1, 4, "undelivered", at(5), at(60), 5, None, "no ack after 5 sends"),
    (T1, 5, "sent", at(70), at(70), 1, None, ""),
    (T1, 6, "pending", None, None, 0, None, ""),
    # T2's first two events were pruned by the old retention; the rest are acked.
    (T2, 3, "acked", at(10), at(10), 1, at(11), ""),
    (T2, 4, "acked", at(10), at(10), 1, at(11), ""),
]


def _seed_legacy(cursor) -> dict[tuple[uuid.UUID, int], int]:
    cursor.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,"
        " is_staff, is_active, date_joined) VALUES ('!', false, 'old', '', '', '', false, true,"
        " now()) RETURNING id"
    )
    (user,) = cursor.fetchone()
    for thread, last in ((T1, 6), (T2, 4)):
        cursor.execute(
            "INSERT INTO delivery_thread (id, owner_id, title, last_seq, created_at)"
            " VALUES (%s, %s, 'old', %s, %s)",
            [thread, user, last, T0],
        )
    ids = {}
    for thread, seq, state, first, last, attempts, acked, cause in EVENTS:
        cursor.execute(
            "INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical,"
            " created_at, first_sent_at, last_sent_at, attempts, acked_at, state,"
            " undelivered_cause) VALUES (%s, %s, gen_random_uuid(), 'agent_step',"
            " %s, true, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [thread, seq, json.dumps({"seq": seq}), at(seq * 0.1), first, last, attempts,
             acked, state, cause],
        )  # fmt: skip
        ids[(thread, seq)] = cursor.fetchone()[0]
    connection = uuid.uuid4()
    cursor.execute(
        "INSERT INTO delivery_connection (id, thread_id, user_id, channel_name, transport, state,"
        " resumed_from, acked_seq, opened_at, last_seen_at, closed_at, close_code, close_reason,"
        " server) VALUES (%s, %s, %s, '', 'websocket', 'closed', 0, 3, %s, %s, %s, 1000, '', 'x')",
        [connection, T1, user, at(0), at(80), at(80)],
    )
    cursor.execute(
        "INSERT INTO delivery_deliveryattempt (thread_id, connection_id, trigger, from_seq,"
        " to_seq, event_count, created_at, detail) VALUES (%s, NULL, 'retry', 4, 4, 1, %s,"
        " 'unacked past the ack deadline')",
        [T1, at(20)],
    )
    cursor.execute(
        "INSERT INTO delivery_replayrequest (actor_id, actor_name, reason, ticket, scope,"
        " scope_detail, state, planned_events, planned_threads, sent, failed, created_at,"
        " cancelled_by) VALUES (NULL, 'admin', 'lost', '', 'event', '{}', 'done', 1, 1, 1, 0,"
        " now(), '') RETURNING id"
    )
    (replay,) = cursor.fetchone()
    cursor.execute(
        "INSERT INTO delivery_replayitem (replay_id, thread_id, event_id, seq, state_before,"
        " outcome, done_at) VALUES (%s, %s, %s, 4, 'undelivered', 'on_next_connect', now())",
        [replay, T1, ids[(T1, 4)]],
    )
    cursor.execute(
        "INSERT INTO console_contentreveal (actor_id, actor_name, event_id, thread_id,"
        " revealed_at) VALUES (NULL, 'support', %s, %s, now())",
        [ids[(T2, 3)], T2],
    )
    return ids


def _rows(cursor, sql: str, *params) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def test_a_seeded_legacy_ledger_migrates_to_watermarks_and_ranges(scratch):
    _manage(scratch, "migrate", "console", "0003")
    _manage(scratch, "migrate", "delivery", "0004")
    with psycopg.connect(_server_dsn(scratch), autocommit=True) as db, db.cursor() as cursor:
        ids = _seed_legacy(cursor)
        uuids = dict(_rows(cursor, "SELECT id, event_id FROM delivery_event"))
    _manage(scratch, "migrate")
    with psycopg.connect(_server_dsn(scratch), autocommit=True) as db, db.cursor() as cursor:
        # Every event kept as it was emitted, nothing more.
        assert _rows(cursor, "SELECT count(*) FROM delivery_event") == [(len(EVENTS),)]
        # The acked watermarks: the contiguous acked prefix (a pruned prefix counts as acked).
        assert dict(_rows(cursor, "SELECT id, acked_seq FROM delivery_thread")) == {T1: 3, T2: 4}
        ack_ranges = "SELECT above, upto, acked_at FROM delivery_ackrange WHERE thread_id = %s"
        assert sorted(_rows(cursor, ack_ranges, T1)) == [(0, 2, at(2)), (2, 3, at(4))]
        assert _rows(cursor, ack_ranges, T2) == [(2, 4, at(11))]
        sends = (
            "SELECT trigger, first_seq, last_seq, created_at FROM delivery_deliveryattempt"
            " WHERE thread_id = %s ORDER BY created_at, first_seq"
        )
        assert _rows(cursor, sends, T1) == [
            ("live", 1, 2, at(1)),
            ("live", 3, 3, at(3)),
            ("live", 4, 4, at(5)),
            ("retry", 4, 4, at(20)),
            ("live", 5, 5, at(70)),
        ]
        assert _rows(
            cursor, "SELECT first_seq, last_seq, cause FROM delivery_undeliveredrange"
        ) == [(4, 4, "no ack after 5 sends")]
        # The connection can vouch for what the legacy ledger had sent.
        assert _rows(cursor, "SELECT sent_seq, acked_seq FROM delivery_connection") == [(5, 3)]
        # Audits name events by id, and the events they name are copied.
        replayed = uuids[ids[(T1, 4)]]
        revealed = uuids[ids[(T2, 3)]]
        assert _rows(cursor, "SELECT event_id FROM delivery_replayitem") == [(replayed,)]
        assert _rows(cursor, "SELECT event_id FROM console_contentreveal") == [(revealed,)]
        copies = _rows(cursor, "SELECT event_id FROM delivery_auditedevent ORDER BY seq")
        assert sorted(copies) == sorted([(replayed,), (revealed,)])
        assert not _rows(cursor, "SELECT 1 FROM pg_class WHERE relname LIKE 'delivery_%%_legacy'")
    states = _manage(
        scratch,
        "shell",
        "-c",
        "import json; from delivery.models import Thread; "
        "from delivery.ledger.selectors import event_statuses; "
        f"t = Thread.objects.get(pk='{T1}'); "
        "print(json.dumps({s: v.state for s, v in event_statuses(thread=t, seqs=[1,2,3,4,5,6])"
        ".items()}))",
    )
    assert json.loads(states.strip().splitlines()[-1]) == {
        "1": "acked",
        "2": "acked",
        "3": "acked",
        "4": "undelivered",
        "5": "sent",
        "6": "committed",
    }
