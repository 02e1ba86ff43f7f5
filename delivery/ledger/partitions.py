"""Daily partitions of the event table: made ahead of time, dropped whole by retention.

`delivery_event` is partitioned by range on `created_at`, one partition per UTC day, named
`delivery_event_pYYYYMMDD`. Beat runs
`ensure_partitions` daily (and `migrate` and `make run` run it too), keeping PARTITION_DAYS_AHEAD
days ready: an insert for a day with no partition would fail, loudly, as a LedgerWriteFailed
(there is no default partition to hide it in, and none to scan when a partition is attached).

Retention (`delivery/ledger/retention.py`) detaches and drops the partitions whose whole day is
older than the cutoff: a catalog change, not a DELETE per row.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection

from delivery import conf

logger = logging.getLogger(__name__)

# Each partitioned table and the column it is partitioned on.
PARTITIONED = {"delivery_event": "created_at"}
NAME_RE = re.compile(r"_p(\d{8})$")

PARTITIONS_SQL = """
    SELECT child.relname FROM pg_inherits i
      JOIN pg_class parent ON parent.oid = i.inhparent
      JOIN pg_class child ON child.oid = i.inhrelid
      JOIN pg_namespace ns ON ns.oid = parent.relnamespace
     WHERE parent.relname = %s AND ns.nspname = current_schema()
     ORDER BY child.relname"""


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    day: date  # the partition holds rows from this day 00:00 UTC to the next day's

    @property
    def end(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def partitions(table: str) -> list[Partition]:
    """The daily partitions of `table`, oldest first (others attached by hand are ignored)."""
    with connection.cursor() as cursor:
        cursor.execute(PARTITIONS_SQL, [table])
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        match = NAME_RE.search(name)
        if match and name == partition_name(table, _day(match.group(1))):
            found.append(Partition(table, name, _day(match.group(1))))
    return found


def _day(digits: str) -> date:
    return datetime.strptime(digits, "%Y%m%d").replace(tzinfo=UTC).date()


def create_partition_sql(table: str, day: date) -> str:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    quote = connection.ops.quote_name
    # Identifiers come from PARTITIONED and a date; no user input reaches this text.
    return (
        f"CREATE TABLE IF NOT EXISTS {quote(partition_name(table, day))} "
        f"PARTITION OF {quote(table)} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def ensure_partitions(*, since: date | None = None, days_ahead: int | None = None) -> list[str]:
    """Create every missing daily partition from `since` (default today) through
    `days_ahead` days after today. Idempotent; returns the names it created."""
    today = datetime.now(UTC).date()
    ahead = conf.current().partition_days_ahead if days_ahead is None else days_ahead
    first = min(since or today, today)
    days = [first + timedelta(days=n) for n in range((today - first).days + ahead + 1)]
    created = []
    with connection.cursor() as cursor:
        for table in PARTITIONED:
            existing = {p.day for p in partitions(table)}
            for day in days:
                if day not in existing:
                    cursor.execute(create_partition_sql(table, day))
                    created.append(partition_name(table, day))
    if created:
        logger.info("created %s ledger partition(s) through %s", len(created), days[-1])
    return created


def days_ready() -> int:
    """Whole days ahead of today for which every partitioned table has its partition."""
    today = datetime.now(UTC).date()
    ready = None
    for table in PARTITIONED:
        days = {p.day for p in partitions(table)}
        ahead = 0
        while today + timedelta(days=ahead) in days:
            ahead += 1
        ready = ahead if ready is None else min(ready, ahead)
    return (ready or 0) - 1


def droppable(*, before: datetime) -> list[Partition]:
    """Partitions whose whole day ends at or before `before`, oldest first."""
    return [p for table in PARTITIONED for p in partitions(table) if p.end <= before]


def drop_partition(partition: Partition) -> None:
    """Detach, then drop. Outside a transaction the detach is CONCURRENTLY, so inserts into
    the parent table never wait on it."""
    quote = connection.ops.quote_name
    concurrently = "" if connection.in_atomic_block else " CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {quote(partition.table)} "
            f"DETACH PARTITION {quote(partition.name)}{concurrently}"
        )
        cursor.execute(f"DROP TABLE {quote(partition.name)}")
