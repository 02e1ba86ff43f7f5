"""Ledger retention: whole days of the ledger go, as partitions (LEDGERLINE RETENTION_DAYS).

The rule: once a whole UTC day is older than the cutoff, its partition of events
(delivery/ledger/partitions.py) is detached and dropped. That is a catalog change, not a DELETE per
row: a day holding a million events goes in well under a second, against tens of seconds of
DELETE (docs/performance.md), and leaves no dead tuples to vacuum.

- **Seqs stay contiguous.** Within a thread `created_at` rises with seq (the emit statement
  reads the clock under the thread's row lock), so dropping the oldest days removes a prefix
  of every thread. A client resuming below what is left gets `resync {reason: retention}`
  (`ThreadConsumer.resume`), never a silent hole. Threads are kept: `last_seq` keeps seq
  allocation contiguous.
- **Nothing goes silently.** Events of a dropped day that were never acknowledged (a client
  away longer than retention) are counted in the report and logged at WARNING.
- **Audits survive.** An event that a replay or a content reveal names was copied to
  `AuditedEvent` when the audit was written (`delivery.ledger.audit.preserve`); the copy stays.
- **Also pruned**, in short batches: attempts and ack ranges recorded before the cutoff (they
  are written per flush, not per event, so there are far fewer of them; they are read by
  thread and seq, which one index serves better than a partition per day), `closed`/`dead`
  connections closed before it, and undelivered ranges recorded before it.
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from delivery import conf, metrics
from delivery.ledger import partitions
from delivery.models import Connection, ConnectionState, UndeliveredRange

logger = logging.getLogger(__name__)

COUNT_SQL = "SELECT count(*) FROM {table}"
UNACKED_SQL = """
    SELECT count(*) FROM {table} e JOIN delivery_thread t ON t.id = e.thread_id
     WHERE e.seq > t.acked_seq"""


@dataclass
class PruneReport:
    """What a prune dropped (or, in a dry run, would drop)."""

    cutoff: datetime
    dry_run: bool
    partitions: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)  # the UTC days dropped, oldest first
    events: int = 0
    attempts: int = 0
    ack_ranges: int = 0
    dropped_unacked: int = 0
    connections: int = 0
    undelivered_ranges: int = 0
    duration: float = 0.0

    def as_log(self) -> dict[str, object]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat()}


def configured_cutoff() -> datetime | None:
    """The cutoff LEDGERLINE RETENTION_DAYS asks for, or None when retention is off (0)."""
    days = conf.current().retention_days
    if days <= 0:
        return None
    return timezone.now() - timedelta(days=days)


def prune_ledger(
    *, older_than: datetime, batch_size: int = 5000, dry_run: bool = False
) -> PruneReport:
    """Drop every daily partition that ends before `older_than`, and old connection and
    undelivered-range rows. A dry run counts the same and drops nothing. Idempotent, and safe
    next to live traffic: inserts go to today's partition, which is never a candidate."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if older_than > timezone.now():
        raise ValueError("older_than is in the future: that would prune live events")
    clock = time.monotonic()
    report = PruneReport(cutoff=older_than, dry_run=dry_run)
    for partition in sorted(partitions.droppable(before=older_than), key=lambda p: p.day):
        _count(partition, report)
        report.partitions.append(partition.name)
        if partition.day.isoformat() not in report.days:
            report.days.append(partition.day.isoformat())
        if not dry_run:
            partitions.drop_partition(partition)
    report.attempts = _prune_by_time("delivery_deliveryattempt", "created_at", report, batch_size)
    report.ack_ranges = _prune_by_time("delivery_ackrange", "acked_at", report, batch_size)
    report.connections = _prune_rows(
        Connection.objects.filter(
            state__in=(ConnectionState.CLOSED, ConnectionState.DEAD), closed_at__lt=older_than
        ),
        batch_size,
        dry_run,
    )
    report.undelivered_ranges = _prune_rows(
        UndeliveredRange.objects.filter(created_at__lt=older_than), batch_size, dry_run
    )
    report.duration = round(time.monotonic() - clock, 3)
    if not dry_run:
        metrics.events_pruned.inc(report.events)
    if report.dropped_unacked:
        logger.warning(
            "prune_ledger: %s event(s) older than %s were never acknowledged; their clients "
            "get a resync (reason retention) if they come back",
            report.dropped_unacked,
            older_than.isoformat(),
        )
    logger.info("prune_ledger: %s", {**report.as_log(), "partitions": len(report.partitions)})
    return report


def _count(partition: partitions.Partition, report: PruneReport) -> None:
    table = connection.ops.quote_name(partition.name)
    with connection.cursor() as cursor:
        # The name comes from the catalog, quoted; no value is interpolated.
        cursor.execute(COUNT_SQL.format(table=table))
        rows = int(cursor.fetchone()[0])
        report.events += rows
        if rows:
            cursor.execute(UNACKED_SQL.format(table=table))
            report.dropped_unacked += int(cursor.fetchone()[0])


# The time column's BRIN index finds the old rows; a batch is deleted by their row addresses
# (these tables' keys lead with the thread, not the time).
PRUNE_BY_TIME_SQL = """
    DELETE FROM {table} WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM {table} WHERE {column} < %s LIMIT %s))"""


def _prune_by_time(table: str, column: str, report: PruneReport, batch_size: int) -> int:
    with connection.cursor() as cursor:
        if report.dry_run:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {column} < %s", [report.cutoff])  # noqa: S608
            return int(cursor.fetchone()[0])
        deleted = 0
        while True:
            cursor.execute(PRUNE_BY_TIME_SQL.format(table=table, column=column),
                           [report.cutoff, batch_size])  # fmt: skip
            deleted += cursor.rowcount
            if cursor.rowcount < batch_size:
                return deleted


def _prune_rows(rows: QuerySet[Any], batch_size: int, dry_run: bool) -> int:
    if dry_run:
        return rows.count()
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(rows.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            rows.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            return deleted
