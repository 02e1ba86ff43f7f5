"""Ledger retention: delete what no client can still be owed (LEDGERLINE RETENTION_DAYS).

The rule, per thread: delete the longest *prefix* (lowest seqs first) whose events are all
settled (`acked` or `undelivered`), created before the cutoff and referenced by no other row.
The first event that breaks any of the three (a `pending` or `sent` one still owed to a client,
a young one, or one an audit row points at) is the thread's *floor*: it and everything after it
stay, even settled events older than the cutoff. So retained seqs stay contiguous, and a client
resuming below them gets `resync` with reason `retention` (`ThreadConsumer.resume`), never a
silent hole. Threads are kept: `last_seq` keeps seq allocation contiguous.

Audit rows (`ReplayItem`, console's `ContentReveal`: any foreign key to `Event`, read from model
meta so `delivery` imports no app that audits it) are never deleted; their event pins its
thread. The DELETEs are raw SQL, so Django's CASCADE never runs, and with constraints IMMEDIATE a
reference written after the plan was read fails the batch, which is re-planned. The only way
back from settled to owed is an operator replay, which writes its ReplayItem rows first.

Old `DeliveryAttempt` rows go too, and `closed`/`dead` connections closed before the cutoff
(`SET_NULL` references such as `DeliveryAttempt.connection` are cleared first, as Django would).
Threads are walked in chunks by id; each batch of at most `batch_size` rows is its own short
transaction, and event rows are locked in (thread, seq) order before they are checked and
deleted, so every batch removes a prefix of each thread it touches.
"""

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from delivery import conf, metrics
from delivery.models import UNACKED_STATES, Connection, DeliveryAttempt, Event, EventState, Thread

logger = logging.getLogger(__name__)

SETTLED_STATES = (EventState.ACKED, EventState.UNDELIVERED)
THREAD_CHUNK = 1000
# A chunk whose floors go stale this often (audit rows written while it is pruned) waits for
# the next run.
MAX_REPLANS = 3

Floors = dict[uuid.UUID, int]  # thread -> the first seq it keeps
Plan = dict[uuid.UUID, tuple[int, int]]  # thread -> (its first seq, its floor)
Params = dict[str, Any]
LockedRow = tuple[int, uuid.UUID, int, str, datetime]

# Each thread of the chunk with something below its floor: its first seq and its floor, the
# first seq that is unsettled, young or referenced (`pinned`), else last_seq + 1. Both laterals
# walk the (thread, seq) unique index; the second walks the thread's old prefix once.
FLOORS_SQL = """
    SELECT t.id, head.seq, COALESCE(f.seq, t.last_seq + 1) FROM delivery_thread t
      JOIN LATERAL (
           SELECT x.seq FROM delivery_event x WHERE x.thread_id = t.id
            ORDER BY x.seq LIMIT 1) head ON true
      LEFT JOIN LATERAL (
           SELECT x.seq FROM delivery_event x
            WHERE x.thread_id = t.id
              AND (x.state <> ALL(%(settled)s) OR x.created_at >= %(cutoff)s OR {pinned})
            ORDER BY x.seq LIMIT 1) f ON true
     WHERE t.id = ANY(%(threads)s) AND head.seq < COALESCE(f.seq, t.last_seq + 1)"""
FLOORS = "unnest(%(threads)s::uuid[], %(floors)s::bigint[]) AS p(thread_id, floor)"
COUNT_SQL = f"""
    SELECT coalesce(sum(n.count), 0) FROM {FLOORS}
     CROSS JOIN LATERAL (SELECT count(*) FROM delivery_event x
                          WHERE x.thread_id = p.thread_id AND x.seq < p.floor) n"""  # noqa: S608
# The first `batch` rows below the floors in (thread, seq) order, then locked in that order.
# The lateral's LIMIT keeps each thread to an index range scan.
LOCK_SQL = f"""
    SELECT e.id, e.thread_id, e.seq, e.state, e.created_at FROM delivery_event e
     WHERE e.id = ANY(ARRAY(
           SELECT b.id FROM {FLOORS}
            CROSS JOIN LATERAL (SELECT x.id, x.seq FROM delivery_event x
                                 WHERE x.thread_id = p.thread_id AND x.seq < p.floor
                                 ORDER BY x.seq LIMIT %(batch)s) b
            ORDER BY p.thread_id, b.seq LIMIT %(batch)s))
     ORDER BY e.thread_id, e.seq FOR UPDATE OF e"""  # noqa: S608
CONNECTIONS_WHERE = (
    "x.thread_id = ANY(%(threads)s) AND x.state IN ('closed', 'dead')"
    # opened_at <= closed_at: the bound lets connection_thread_recent_idx narrow the scan.
    " AND x.closed_at < %(cutoff)s AND x.opened_at < %(cutoff)s"
)
ATTEMPTS_WHERE = "x.thread_id = ANY(%(threads)s) AND x.created_at < %(cutoff)s"


@dataclass
class PruneReport:
    """What a prune deleted (or, in a dry run, would delete) and what it had to keep."""

    cutoff: datetime
    dry_run: bool
    events: int = 0
    attempts: int = 0
    connections: int = 0
    threads: int = 0
    kept_unresolved: int = 0
    kept_pinned: int = 0
    duration: float = 0.0

    def as_log(self) -> dict[str, object]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat()}


def configured_cutoff() -> datetime | None:
    """The cutoff LEDGERLINE RETENTION_DAYS asks for, or None when retention is off (0)."""
    days = conf.limit("RETENTION_DAYS")
    if days <= 0:
        return None
    return timezone.now() - timedelta(days=days)


def prune_ledger(
    *, older_than: datetime, batch_size: int = 5000, dry_run: bool = False
) -> PruneReport:
    """Delete the retained-too-long prefix of every thread, old attempts and old connections.

    `older_than` is the cutoff: only rows created (connections: closed) before it can go. A dry
    run reads the same plan and deletes nothing. Idempotent, and safe next to live traffic and
    a second prune. See the module docstring for the rule.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if older_than > timezone.now():
        raise ValueError("older_than is in the future: that would prune live events")
    clock = time.monotonic()
    report = PruneReport(cutoff=older_than, dry_run=dry_run)
    old = Event.objects.filter(created_at__lt=older_than)
    report.kept_unresolved = old.filter(state__in=UNACKED_STATES).count()
    settled = old.filter(state__in=SETTLED_STATES).count()
    for threads in _thread_chunks():
        _prune_chunk(threads, report, batch_size)
    report.kept_pinned = max(0, settled - report.events)
    report.duration = round(time.monotonic() - clock, 3)
    if not dry_run:
        metrics.events_pruned.inc(report.events)
    logger.info("prune_ledger: %s", report.as_log())
    return report


def _thread_chunks() -> Iterator[list[uuid.UUID]]:
    after: uuid.UUID | None = None
    while True:
        threads = Thread.objects.order_by("pk").values_list("pk", flat=True)
        if after is not None:
            threads = threads.filter(pk__gt=after)
        chunk = list(threads[:THREAD_CHUNK])
        if not chunk:
            return
        yield chunk
        after = chunk[-1]


def _prune_chunk(threads: list[uuid.UUID], report: PruneReport, batch_size: int) -> None:
    params: Params = {"threads": threads, "cutoff": report.cutoff}
    report.attempts += _prune_rows(DeliveryAttempt, ATTEMPTS_WHERE, params, batch_size, report)
    report.connections += _prune_rows(Connection, CONNECTIONS_WHERE, params, batch_size, report)
    plan = _plan(threads, report.cutoff)
    report.threads += len(plan)
    if report.dry_run:
        with connection.cursor() as cursor:
            cursor.execute(COUNT_SQL, _floor_params(_floors_of(plan)))
            report.events += int(cursor.fetchone()[0])
        return
    for floors in _groups(plan, batch_size):
        _delete_group(floors, report, batch_size)


def _groups(plan: Plan, batch_size: int) -> Iterator[Floors]:
    """Threads in id order, grouped so that a group holds about `batch_size` rows to delete."""
    group: Floors = {}
    size = 0
    for thread_id, (first, floor) in sorted(plan.items()):
        if group and size + floor - first > batch_size:
            yield group
            group, size = {}, 0
        group[thread_id] = floor
        size += floor - first
    if group:
        yield group


def _delete_group(floors: Floors, report: PruneReport, batch_size: int) -> None:
    for _ in range(MAX_REPLANS):
        try:
            _delete_events(floors, report, batch_size)
            return
        except IntegrityError:
            logger.warning("prune_ledger: an event was referenced while pruning; re-planning")
            floors = _floors_of(_plan(list(floors), report.cutoff))
    logger.warning("prune_ledger: %s thread(s) left for the next run", len(floors))


def _pins(model: type[models.Model]) -> tuple[str, list[tuple[str, str]]]:
    """SQL true when another row references row `x` of `model`; and the SET_NULL references.

    Read from the model's meta, so a new model that points at an event pins it with no change
    here. A SET_NULL reference (DeliveryAttempt.connection) is cleared, as Django would.
    """
    quote = connection.ops.quote_name
    pinned: list[str] = []
    nulled: list[tuple[str, str]] = []
    for rel in model._meta.related_objects:
        if not isinstance(rel.field, models.ForeignKey):
            continue  # a many-to-many's rows live in its own table
        table, column = quote(rel.related_model._meta.db_table), quote(rel.field.column)
        if rel.on_delete is models.SET_NULL:
            nulled.append((table, column))
        else:
            # Names come from model meta, quoted; no value is interpolated.
            pinned.append(f"EXISTS (SELECT 1 FROM {table} r WHERE r.{column} = x.id)")  # noqa: S608
    return " OR ".join(pinned) or "false", nulled


def _prune_rows(
    model: type[models.Model],
    where: str,
    params: Params,
    batch: int,
    report: PruneReport,
) -> int:
    """Delete (or count) the unreferenced rows of `model` matching `where`, in batches."""
    table = connection.ops.quote_name(model._meta.db_table)
    pinned, nulled = _pins(model)
    select = f"FROM {table} x WHERE {where} AND NOT ({pinned})"
    with connection.cursor() as cursor:
        if report.dry_run:
            cursor.execute(f"SELECT count(*) {select}", params)
            return int(cursor.fetchone()[0])
        deleted = 0
        while True:
            with transaction.atomic():
                ids = _lock_rows(cursor, f"SELECT x.id {select}", {**params, "batch": batch})
                if not ids:
                    return deleted
                for ref_table, column in nulled:
                    sql = f"UPDATE {ref_table} SET {column} = NULL WHERE {column} = ANY(%s)"  # noqa: S608
                    cursor.execute(sql, [ids])
                cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])  # noqa: S608
            deleted += len(ids)
            if len(ids) < batch:
                return deleted


def _lock_rows(cursor: CursorWrapper, select: str, params: Params) -> list[object]:
    # SKIP LOCKED: attempts and connections need no prefix; a busy row waits for the next run.
    cursor.execute(f"{select} LIMIT %(batch)s FOR UPDATE OF x SKIP LOCKED", params)
    return [row[0] for row in cursor.fetchall()]


def _plan(threads: list[uuid.UUID], cutoff: datetime) -> Plan:
    """Each thread of `threads` with something to prune: its first seq and its floor."""
    sql = FLOORS_SQL.format(pinned=_pins(Event)[0])
    settled = [state.value for state in SETTLED_STATES]
    with connection.cursor() as cursor:
        cursor.execute(sql, {"threads": threads, "cutoff": cutoff, "settled": settled})
        return {thread_id: (first, floor) for thread_id, first, floor in cursor.fetchall()}


def _floors_of(plan: Plan) -> Floors:
    return {thread_id: floor for thread_id, (_first, floor) in plan.items()}


def _floor_params(floors: Floors) -> Params:
    return {"threads": list(floors), "floors": list(floors.values())}


def _delete_events(floors: Floors, report: PruneReport, batch_size: int) -> None:
    """Delete below the floors a batch at a time; each batch is a prefix of its threads."""
    while floors:
        with transaction.atomic(), connection.cursor() as cursor:
            # A reference written since the floors were read fails here, not at commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(LOCK_SQL, {**_floor_params(floors), "batch": batch_size})
            rows = cursor.fetchall()
            doomed = _settled_prefix(rows, floors, report.cutoff)
            if doomed:
                cursor.execute("DELETE FROM delivery_event WHERE id = ANY(%s)", [doomed])
        report.events += len(doomed)
        if len(rows) < batch_size:
            return


def _settled_prefix(rows: list[LockedRow], floors: Floors, cutoff: datetime) -> list[int]:
    """The ids to delete among rows locked in (thread, seq) order.

    The rows are locked, so their state cannot change under this check. A thread stops at its
    first row that is not settled or not old (a replay reopened it, say); nothing of that
    thread is below it any more, so the thread leaves `floors`.
    """
    doomed: list[int] = []
    stopped: set[uuid.UUID] = set()
    for pk, thread_id, _seq, state, created_at in rows:
        if thread_id in stopped:
            continue
        if state in SETTLED_STATES and created_at < cutoff:
            doomed.append(pk)
        else:
            stopped.add(thread_id)
    for thread_id in stopped:
        floors.pop(thread_id)
    return doomed
