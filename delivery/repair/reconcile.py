"""The reconciler: what was sent against what was acknowledged (docs/architecture.md).

One `reconcile()` call, run by Celery beat every RECONCILE_INTERVAL seconds, does one sweep.
For every thread with a live WebSocket and events above its acked watermark:

1. events some live socket was never sent (a fast path failed, dropped, or died with its
   process) go to the thread's group as a `heal` once the first is older than the grace: each
   socket writes only what it lacks;
2. the unacknowledged head of the thread, sent but not acked past
   ACK_DEADLINE * 2^(sends-1), is sent again as a `retry`; once RETRY_BUDGET sends went
   unanswered, the sent range is recorded as an UndeliveredRange, with an alert.

Then runs with no terminal event after RUN_TIMEOUT are closed (delivery.repair.runs), connections
whose heartbeat (or polls) stopped are marked dead, and the sweep's heartbeat row is written.

Threads with no live socket are left alone: their events wait for the client's resume. The
candidates come from `connection_live_idx`, so a sweep's cost follows the live, unacknowledged
work, not the ledger's size. Every decision is read from watermarks and ranges; nothing
per event is written. Two reconcilers split the work: each thread is claimed with a
transaction-scoped advisory try-lock (a SKIP LOCKED that never blocks the emit path's row lock)
and its attempts are read again under it, so a retry is never sent or counted twice.
"""

import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from delivery import conf, metrics, signals
from delivery.ledger.append import EVENT_FIELDS
from delivery.ledger.statements import execute_bound
from delivery.models import Event, ReconcilerHeartbeat, Trigger
from delivery.models import UndeliveredRange as Undelivered
from delivery.repair import redelivery, runs
from delivery.repair.liveness import mark_dead_connections
from delivery.repair.retry_plan import Sent, ThreadState, plan

logger = logging.getLogger(__name__)

RECONCILER = "reconciler"
BATCH = 500  # threads claimed per transaction, and events per message
MAX_BATCHES = 20
HEAL_DETAIL = "unsent to a live socket (reconciler)"
RETRY_DETAIL = "unacked past the ack deadline (reconciler)"
LOCK_NAMESPACE = 1701  # pg_try_advisory_xact_lock(namespace, hashtext(thread id))

# Driven by the live sockets (connection_live_idx), each probing its thread's row: OFFSET 0
# keeps the probe per socket, where a join was planned as a scan of every thread.
# A thread whose every unacked event is in an open undelivered range needs nothing more, and
# one the last sweep found not yet due waits for its time (`reconcile_after`), unless it got
# an event since (`reconciled_at`): a backlog of slow clients is read once per decision.
CANDIDATES_SQL = """
    SELECT DISTINCT c.thread_id FROM delivery_connection c
     CROSS JOIN LATERAL (
           SELECT 1 FROM delivery_thread t
            WHERE t.id = c.thread_id AND t.acked_seq < t.last_seq
              AND (t.reconcile_after IS NULL OR t.reconcile_after <= now()
                   OR t.last_event_at >= t.reconciled_at)
              AND NOT EXISTS (
                  SELECT 1 FROM delivery_undeliveredrange r
                   WHERE r.thread_id = t.id AND r.reopened_at IS NULL
                     AND r.last_seq >= t.last_seq)
           OFFSET 0) t
     WHERE c.state = 'live' AND c.transport = 'websocket' AND c.thread_id > %(after)s
     ORDER BY c.thread_id LIMIT %(batch)s"""
CLAIM_SQL = """
    SELECT id FROM unnest(%s::uuid[]) AS id
     WHERE pg_try_advisory_xact_lock(%s, hashtext(id::text))"""
# Under the claim: each thread's watermarks, its open undelivered ceiling, what its live
# sockets were sent (a socket that resumed has what it resumed from), and since when the first
# event some socket lacks has waited.
STATE_SQL = """
    SELECT t.id, t.acked_seq, t.last_seq, COALESCE(u.upto, 0), s.least, s.most,
           (SELECT e.created_at FROM delivery_event e
             WHERE e.thread_id = t.id
               AND e.seq = GREATEST(s.least, t.acked_seq, COALESCE(u.upto, 0)) + 1
               AND e.created_at BETWEEN t.created_at AND t.last_event_at LIMIT 1)
      FROM delivery_thread t
     CROSS JOIN LATERAL (
           SELECT min(GREATEST(c.sent_seq, COALESCE(c.resumed_from, 0))) AS least,
                  max(c.sent_seq) AS most
             FROM delivery_connection c
            WHERE c.thread_id = t.id AND c.state = 'live' AND c.transport = 'websocket') s
      LEFT JOIN LATERAL (
           SELECT max(r.last_seq) AS upto FROM delivery_undeliveredrange r
            WHERE r.thread_id = t.id AND r.reopened_at IS NULL AND r.last_seq > t.acked_seq) u
           ON true
     WHERE t.id = ANY(%s) AND s.least IS NOT NULL"""
# The attempts covering each thread's head, or the first event a socket lacks.
ATTEMPTS_SQL = """
    SELECT h.thread_id, a.trigger, a.connection_id IS NULL, a.outcome, a.created_at,
           a.first_seq, a.last_seq
      FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS h(thread_id, head, upto)
     CROSS JOIN LATERAL (
           SELECT x.* FROM delivery_deliveryattempt x
            WHERE x.thread_id = h.thread_id AND x.last_seq >= h.head AND x.first_seq <= h.upto
            OFFSET 0) a"""
# A thread's events lie between its creation and its newest event: with the bounds in the
# lateral, PostgreSQL prunes each probe to the days the thread was active. OFFSET 0 keeps the
# lateral a per-thread probe: flattened into a join, it was planned as a hash join over every
# partition (110 ms for 500 threads on a 1M-event ledger, against 4 ms).
EVENTS_SQL = """
    SELECT e.event_id, e.thread_id, e.seq, e.type, e.payload, e.critical, e.created_at
      FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS r(thread_id, first, last)
      JOIN delivery_thread t ON t.id = r.thread_id
     CROSS JOIN LATERAL (
           SELECT x.* FROM delivery_event x
            WHERE x.thread_id = r.thread_id AND x.seq BETWEEN r.first AND r.last
              AND x.created_at BETWEEN t.created_at AND t.last_event_at
            OFFSET 0) e
     ORDER BY e.thread_id, e.seq"""


@dataclass
class ReconcileReport:
    pending_sent: int = 0
    retried: int = 0
    undelivered: int = 0
    runs_closed: int = 0
    connections_dead: int = 0
    duration: float = 0.0


def reconcile(*, name: str = RECONCILER) -> ReconcileReport:
    """One idempotent sweep. Safe to run concurrently with itself on any number of workers."""
    started, clock = timezone.now(), time.monotonic()
    report = ReconcileReport()
    after = uuid.UUID(int=0)
    for _ in range(MAX_BATCHES):
        ids = _candidates(after)
        if not ids:
            break
        with transaction.atomic():
            _reconcile_batch(ids, report)
        after = ids[-1]
        if len(ids) < BATCH:
            break
    report.runs_closed, checked_until = runs.close_stalled_runs(since=_runs_cursor(name))
    report.connections_dead = mark_dead_connections()
    report.duration = time.monotonic() - clock
    record_heartbeat(name=name, started=started, report=report, runs_checked_until=checked_until)
    metrics.reconcile_runs.inc()
    metrics.reconcile_duration.observe(report.duration)
    if report.undelivered or report.runs_closed or report.connections_dead:
        logger.warning("reconcile: %s", asdict(report))
    return report


def _candidates(after: uuid.UUID) -> list[uuid.UUID]:
    return [row[0] for row in execute_bound(CANDIDATES_SQL, {"after": after, "batch": BATCH})]


# Thread rows are locked in id order, as the progress writer locks them
# (delivery/ledger/progress.py): in the order the plan listed them, a daphne writing acks for
# two of these threads could hold one and wait for the other, and the database would kill one
# side, or an emit queued behind both, as a deadlock.
SCHEDULE_SQL = """
WITH s AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(at)s::timestamptz[]) AS s(id, at)
), held AS (
    SELECT t.id FROM delivery_thread t JOIN s ON s.id = t.id
     ORDER BY t.id FOR NO KEY UPDATE OF t
)
UPDATE delivery_thread t SET reconcile_after = s.at, reconciled_at = %(read_at)s
  FROM s JOIN held h ON h.id = s.id
 WHERE t.id = s.id"""


def schedule_checks(check_after: dict[uuid.UUID, datetime], read_at: datetime) -> None:
    """Record when each thread is next worth a look, and that it was read at `read_at`."""
    execute_bound(
        SCHEDULE_SQL,
        {"ids": list(check_after), "at": list(check_after.values()), "read_at": read_at},
    )


def _reconcile_batch(ids: list[uuid.UUID], report: ReconcileReport) -> None:
    read_at = timezone.now()  # an event after this makes the thread a candidate again
    claimed = [row[0] for row in execute_bound(CLAIM_SQL, [ids, LOCK_NAMESPACE])]
    if not claimed:
        return
    states = [ThreadState(*row) for row in execute_bound(STATE_SQL, [claimed])]
    states = [s for s in states if s.head <= s.last]
    if not states:
        return
    columns = [[s.id for s in states], [s.head for s in states], [s.unsent for s in states]]
    by_thread = {s.id: s for s in states}
    for thread_id, *attempt in execute_bound(ATTEMPTS_SQL, columns):
        by_thread[thread_id].attempts.append(Sent(*attempt))
    decided = plan(states, timezone.now())
    report.undelivered += give_up(decided.give_up)
    report.pending_sent += _send(decided.heal, Trigger.HEAL, "unsent to a live socket (reconciler)")
    report.retried += _send(
        decided.retry, Trigger.RETRY, "unacked past the ack deadline (reconciler)"
    )
    # Last, so the thread rows stay locked only until the commit just after, never across the
    # sends above: an emit to one of these threads waits for this row lock.
    schedule_checks(decided.check_after, read_at)


def _send(ranges: list[tuple[ThreadState, int, int]], trigger: str, detail: str) -> int:
    """One message per thread, all at once; returns how many events the layer took."""
    if not ranges:
        return 0
    batches = _load(ranges)
    took = redelivery.resend_many(batches, trigger=trigger, detail=detail)
    return sum(len(events) for (_, events), ok in zip(batches, took, strict=True) if ok)


def _load(ranges: list[tuple[ThreadState, int, int]]) -> list[tuple[uuid.UUID, list[Event]]]:
    columns = [[s.id for s, _, _ in ranges], [f for _, f, _ in ranges], [t for *_, t in ranges]]
    grouped: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for event_id, thread_id, seq, type, payload, critical, created_at in execute_bound(
        EVENTS_SQL, columns
    ):
        if isinstance(payload, str):  # Django loads jsonb as text for JSONField to decode
            payload = json.loads(payload)
        row = [event_id, thread_id, seq, type, payload, critical, created_at]
        grouped[thread_id].append(Event.from_db(connection.alias, EVENT_FIELDS, row))
    return [(state.id, grouped[state.id]) for state, _, _ in ranges]


def give_up(ranges: list[tuple[ThreadState, int, int]]) -> int:
    """Record each range as undelivered with its cause, count it, and fire
    `event_undelivered` after commit, once per range."""
    if not ranges:
        return 0
    cause = f"no ack after {conf.current().retry_budget} sends"
    Undelivered.objects.bulk_create(
        Undelivered(thread_id=state.id, first_seq=first, last_seq=last, cause=cause)
        for state, first, last in ranges
    )
    total = 0
    for state, first, last in ranges:
        count = last - first + 1
        total += count
        metrics.silent_failures.labels(kind="unacked").inc(count)
        logger.error(
            "thread %s: %s event(s) undelivered (seq %s..%s): %s",
            state.id, count, first, last, cause,
        )  # fmt: skip
        transaction.on_commit(
            partial(
                signals.event_undelivered.send,
                sender=Undelivered,
                thread_id=state.id,
                first=first,
                last=last,
                cause=cause,
            )
        )
    return total


def _runs_cursor(name: str) -> datetime | None:
    return (
        ReconcilerHeartbeat.objects.filter(name=name)
        .values_list("runs_checked_until", flat=True)
        .first()
    )


HEARTBEAT_SQL = """
    INSERT INTO delivery_reconcilerheartbeat AS h
        (name, last_started_at, last_finished_at, last_duration, runs_checked_until, last_report)
    VALUES (%s, %s, now(), %s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET
        last_started_at = EXCLUDED.last_started_at,
        last_finished_at = EXCLUDED.last_finished_at,
        last_duration = EXCLUDED.last_duration,
        runs_checked_until = GREATEST(h.runs_checked_until, EXCLUDED.runs_checked_until),
        last_report = EXCLUDED.last_report"""


def record_heartbeat(
    *, name: str, started: datetime, report: ReconcileReport, runs_checked_until: datetime
) -> None:
    """Upsert the reconciler's heartbeat; the stalled-run cursor only ever moves forward."""
    params: list[Any] = [name, started, report.duration, runs_checked_until]
    with connection.cursor() as cursor:
        cursor.execute(HEARTBEAT_SQL, [*params, json.dumps(asdict(report))])
