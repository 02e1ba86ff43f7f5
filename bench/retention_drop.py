"""Retention: dropping a day's partition against deleting the same rows.

Two past days are filled with ROWS events each (THREADS threads), in SQL. One day is removed
with a DELETE, as retention used to work; the other with `delivery.ledger.partitions.drop_partition`
(DETACH PARTITION ... CONCURRENTLY, then DROP TABLE), as `prune_ledger` does now. Both run in
the same database, one after the other.
"""

import time
from datetime import UTC, datetime, timedelta

from bench.report import Table, publish
from bench.stack import BenchStack

ROWS = 1_000_000
THREADS = 1_000

FILL_SQL = """
    INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at)
    SELECT t.id, s, gen_random_uuid(), 'agent_step', '{"text": "retention benchmark"}', true,
           %(day)s::timestamptz + make_interval(secs => s * 0.08)
      FROM (SELECT id FROM delivery_thread WHERE title = 'retention bench') t,
           generate_series(%(first)s, %(last)s) s
"""


def _fill(day: datetime, first_seq: int) -> float:
    from django.db import connection

    per_thread = ROWS // THREADS
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            FILL_SQL, {"day": day, "first": first_seq, "last": first_seq + per_thread - 1}
        )
    return time.perf_counter() - started


def _threads() -> None:
    from django.contrib.auth.models import User

    from delivery.models import Thread

    user, _ = User.objects.get_or_create(username="bench-retention")
    Thread.objects.bulk_create(Thread(owner=user, title="retention bench") for _ in range(THREADS))


def run(stack: BenchStack) -> Table:
    from django.db import connection

    from delivery.ledger import partitions

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    deleted_day, dropped_day = today - timedelta(days=61), today - timedelta(days=60)
    partitions.ensure_partitions(since=deleted_day.date())
    _threads()
    per_thread = ROWS // THREADS
    fill = _fill(deleted_day, 1) + _fill(dropped_day, per_thread + 1)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        cursor.execute(
            "DELETE FROM delivery_event WHERE created_at >= %s AND created_at < %s",
            [deleted_day, deleted_day + timedelta(days=1)],
        )
        deleted = cursor.rowcount
        delete_seconds = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(
            f'VACUUM "{partitions.partition_name("delivery_event", deleted_day.date())}"'
        )
        vacuum_seconds = time.perf_counter() - started
    [partition] = [
        p for p in partitions.partitions("delivery_event") if p.day == dropped_day.date()
    ]
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{partition.name}"')
        dropped = cursor.fetchone()[0]
    started = time.perf_counter()
    partitions.drop_partition(partition)
    drop_seconds = time.perf_counter() - started
    table = Table(
        "Retention: a day of events, dropped as a partition against deleted row by row",
        ["events", "DELETE s", "then VACUUM s", "events", "DETACH CONCURRENTLY + DROP s",
         "DELETE and VACUUM / drop"],
    )  # fmt: skip
    speedup = f"{(delete_seconds + vacuum_seconds) / drop_seconds:,.0f}x"
    table.add(deleted, delete_seconds, vacuum_seconds, dropped, drop_seconds, speedup)
    table.notes.append(
        f"two past days of {ROWS:,} events each over {THREADS:,} threads, filled in SQL in "
        f"{fill:.0f} s; the DELETE leaves {deleted:,} dead tuples that the VACUUM reclaims (and "
        "its WAL besides); the drop leaves nothing"
    )
    return publish(table)
