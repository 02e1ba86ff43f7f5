"""The reconciler: what was sent against what was acknowledged (DESIGN "Reconcile").

One `reconcile()` call, run by Celery beat every RECONCILE_INTERVAL seconds, does one sweep:

1. `pending` events of threads with a live connection are sent (a fast path failed or dropped);
2. `sent` events unacknowledged past ACK_DEADLINE * 2^(attempts-1) are sent again to threads
   with a live connection, or marked `undelivered` once RETRY_BUDGET sends went unanswered;
3. runs with no terminal event after RUN_TIMEOUT are closed with `agent_failed` (delivery.runs);
4. live connection rows whose heartbeat stopped are marked dead;
5. its own heartbeat row is written.

Events of threads with no live connection are left alone: they are "waiting for client" and
go out on resume. Every batch is claimed with `FOR UPDATE SKIP LOCKED`, so two reconcilers
(or two overlapping runs) split the work and never send or count an event twice. Candidate
rows are found through the partial index `event_unacked_idx`: the cost follows the unacked set,
not the size of the ledger.
"""

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from delivery import conf, fanout, metrics, redelivery, runs, signals
from delivery.models import Connection, Event, ReconcilerHeartbeat

logger = logging.getLogger(__name__)

RECONCILER = "reconciler"
BATCH = 500
MAX_BATCHES = 20
# A pending event this young may still be on its own fast path; leave it to that first.
PENDING_GRACE = 0.5
MAX_BACKOFF_EXPONENT = 6

_LIVE = (
    "EXISTS (SELECT 1 FROM delivery_connection c"
    " WHERE c.thread_id = e.thread_id AND c.state = 'live')"
)
PENDING_SQL = f"""
    SELECT e.* FROM delivery_event e
     WHERE e.state = 'pending' AND e.created_at < %(grace)s AND {_LIVE}
     ORDER BY e.thread_id, e.seq LIMIT %(batch)s FOR UPDATE OF e SKIP LOCKED"""  # noqa: S608
DUE_SQL = f"""
    SELECT e.* FROM delivery_event e
     WHERE e.state = 'sent' AND e.last_sent_at < %(cutoff)s
       AND e.last_sent_at + make_interval(secs => %(deadline)s
           * power(2, LEAST(GREATEST(e.attempts, 1) - 1, %(cap)s))) < %(now)s
       AND {_LIVE}
     ORDER BY e.last_sent_at LIMIT %(batch)s FOR UPDATE OF e SKIP LOCKED"""  # noqa: S608


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
    report.pending_sent = send_pending()
    report.retried, report.undelivered = retry_unacked()
    report.runs_closed, checked_until = runs.close_stalled_runs(since=_runs_cursor(name))
    report.connections_dead = mark_dead_connections()
    report.duration = time.monotonic() - clock
    record_heartbeat(name=name, started=started, report=report, runs_checked_until=checked_until)
    metrics.reconcile_runs.inc()
    metrics.reconcile_duration.observe(report.duration)
    if report.undelivered or report.runs_closed or report.connections_dead:
        logger.warning("reconcile: %s", asdict(report))
    return report


def _claim(sql: str, params: dict[str, Any]) -> list[Event]:
    """Lock and read one batch of candidates in one statement, by thread and seq."""
    claimed = list(Event.objects.raw(sql, {**params, "batch": BATCH}))
    return sorted(claimed, key=lambda event: (event.thread_id, event.seq))


def _by_thread(events: list[Event]) -> dict[uuid.UUID, list[Event]]:
    grouped: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.thread_id].append(event)
    return grouped


def send_pending() -> int:
    """Send `pending` events of live threads as a retry. Returns how many the layer took."""
    sent = 0
    for _ in range(MAX_BATCHES):
        grace = timezone.now() - timedelta(seconds=PENDING_GRACE)
        with transaction.atomic():
            claimed = _claim(PENDING_SQL, {"grace": grace})
            progressed = _resend(
                list(_by_thread(claimed).items()),
                detail="pending: fast path failed or dropped (reconciler)",
            )
        sent += progressed
        if len(claimed) < BATCH or not progressed:
            break
    return sent


def retry_unacked() -> tuple[int, int]:
    """Resend overdue unacked events to live threads; exhaust the budget into `undelivered`."""
    retried = undelivered = 0
    deadline, budget = conf.timing("ACK_DEADLINE"), conf.limit("RETRY_BUDGET")
    for _ in range(MAX_BATCHES):
        with transaction.atomic():
            claimed = _claim(DUE_SQL, due_params(timezone.now(), deadline))
            batch_retried, batch_undelivered = _retry_batch(claimed, budget)
        retried, undelivered = retried + batch_retried, undelivered + batch_undelivered
        if len(claimed) < BATCH or not (batch_retried or batch_undelivered):
            break
    return retried, undelivered


def due_params(now: datetime, deadline: float) -> dict[str, Any]:
    """DUE_SQL's parameters at `now` (all but the batch size)."""
    return {
        "now": now,
        "cutoff": now - timedelta(seconds=deadline),
        "deadline": deadline,
        "cap": MAX_BACKOFF_EXPONENT,
    }


def _retry_batch(claimed: list[Event], budget: int) -> tuple[int, int]:
    grouped = _by_thread(claimed)
    spent = _split(grouped, lambda event: event.attempts >= budget)
    again = _split(grouped, lambda event: event.attempts < budget)
    undelivered = mark_undelivered(spent, cause=f"no ack after {budget} sends")
    retried = _resend(list(again.items()), detail="unacked past the ack deadline (reconciler)")
    return retried, undelivered


def _split(
    grouped: dict[uuid.UUID, list[Event]], keep: Callable[[Event], bool]
) -> dict[uuid.UUID, list[Event]]:
    kept = {thread_id: [e for e in events if keep(e)] for thread_id, events in grouped.items()}
    return {thread_id: events for thread_id, events in kept.items() if events}


def _resend(batches: list[tuple[uuid.UUID, list[Event]]], *, detail: str) -> int:
    """Resend every thread's batch at once; returns how many events the layer took."""
    took = redelivery.resend_many(batches, detail=detail)
    return sum(len(events) for (_, events), ok in zip(batches, took, strict=True) if ok)


UNDELIVERED_SQL = """
    UPDATE delivery_event SET state = 'undelivered', undelivered_cause = %s
     WHERE id = ANY(%s) AND state = 'sent'
 RETURNING thread_id"""


def mark_undelivered(events: dict[uuid.UUID, list[Event]], *, cause: str) -> int:
    """Flag events `undelivered` with a cause in one statement, count them, and fire
    `event_undelivered` once per thread."""
    if not events:
        return 0
    with connection.cursor() as cursor:
        pks = [event.pk for thread_events in events.values() for event in thread_events]
        cursor.execute(UNDELIVERED_SQL, [cause[:200], pks])
        counts = Counter(thread_id for (thread_id,) in cursor.fetchall())
    for thread_id, count in counts.items():
        _report_undelivered(thread_id, events[thread_id], count, cause)
    return sum(counts.values())


def _report_undelivered(thread_id: uuid.UUID, events: list[Event], count: int, cause: str) -> None:
    seqs = [e.seq for e in events]
    metrics.silent_failures.labels(kind="unacked").inc(count)
    logger.error(
        "thread %s: %s event(s) undelivered (seq %s..%s): %s",
        thread_id,
        count,
        seqs[0],
        seqs[-1],
        cause,
    )
    transaction.on_commit(
        partial(
            signals.event_undelivered.send,
            sender=Event,
            thread_id=thread_id,
            seqs=seqs,
            cause=cause,
        )
    )


def dead_connection_bound() -> float:
    """Seconds of heartbeat silence after which a live connection row is surely dead.

    The consumer writes `last_seen_at` at most every HEARTBEAT_PERSIST_INTERVAL and closes a
    silent socket itself after PING_TIMEOUT; a row older than both (plus one ping) belongs to
    a socket whose process died or hung.
    """
    return (
        conf.timing("PING_TIMEOUT")
        + conf.timing("HEARTBEAT_PERSIST_INTERVAL")
        + conf.timing("PING_INTERVAL")
    )


DEAD_SQL = """
    UPDATE delivery_connection SET state = 'dead', closed_at = now(),
           close_reason = 'heartbeat stopped (reconciler)'
     WHERE state = 'live' AND last_seen_at < %s
 RETURNING thread_id, channel_name"""


def mark_dead_connections() -> int:
    """Mark live rows whose heartbeat stopped dead, and take their channels out of the group.

    A crashed daphne leaves its channels in the thread's group; the layer would keep queueing
    for them until `capacity` and then report every send to that thread as a drop.
    """
    cutoff = timezone.now() - timedelta(seconds=dead_connection_bound())
    with connection.cursor() as cursor:
        cursor.execute(DEAD_SQL, [cutoff])
        dead = [(thread_id, channel) for thread_id, channel in cursor.fetchall()]
    if not dead:
        return 0
    async_to_sync(_leave_groups)(dead)
    metrics.connections_marked_dead.inc(len(dead))
    logger.warning("marked %s connection(s) dead: their heartbeat stopped", len(dead))
    signals.connections_marked_dead.send(sender=Connection, count=len(dead))
    return len(dead)


async def _leave_groups(dead: list[tuple[uuid.UUID, str]]) -> None:
    layer = get_channel_layer()
    for thread_id, channel in dead:
        if not channel or layer is None:
            continue
        try:
            await layer.group_discard(fanout.group_name(thread_id), channel)
        except Exception:
            logger.exception("could not remove dead channel %s from its group", channel)


def _runs_cursor(name: str) -> datetime | None:
    return (
        ReconcilerHeartbeat.objects.filter(name=name)
        .values_list("runs_checked_until", flat=True)
        .first()
    )


def record_heartbeat(
    *, name: str, started: datetime, report: ReconcileReport, runs_checked_until: datetime
) -> None:
    """Upsert the reconciler's heartbeat; the stalled-run cursor only ever moves forward."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO delivery_reconcilerheartbeat AS h
                (name, last_started_at, last_finished_at, last_duration, runs_checked_until,
                 last_report)
            VALUES (%s, %s, now(), %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET
                last_started_at = EXCLUDED.last_started_at,
                last_finished_at = EXCLUDED.last_finished_at,
                last_duration = EXCLUDED.last_duration,
                runs_checked_until = GREATEST(h.runs_checked_until, EXCLUDED.runs_checked_until),
                last_report = EXCLUDED.last_report
            """,
            [name, started, report.duration, runs_checked_until, _json(asdict(report))],
        )


def _json(data: dict[str, object]) -> str:
    import json

    return json.dumps(data)
