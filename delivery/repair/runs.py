"""Closing stalled runs: no UI spins forever on an agent that died mid-run.

A run starts with an `agent_started` event and ends with `agent_completed` or `agent_failed`.
When a thread's latest `agent_started` has neither after it RUN_TIMEOUT later, the reconciler
emits `agent_failed {reason: "timeout", run_id}` through the normal emit path, so every client
sees the run end. The idempotency key is derived from the start event, so two reconcilers (or a
re-run over the same window) emit it once.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from delivery import conf, metrics, signals
from delivery.event_types import RUN_ENDED, EventType
from delivery.exceptions import DeliveryError
from delivery.ledger import services
from delivery.models import Event

logger = logging.getLogger(__name__)

# How far back the first sweep (no cursor yet) looks for started runs.
FIRST_LOOKBACK = timedelta(days=1)
BATCH = 1000


def close_stalled_runs(*, since: datetime | None) -> tuple[int, datetime]:
    """Check every run started in (since, now - RUN_TIMEOUT] once. Returns (closed, cursor).

    The scan walks `event_created_idx` over that window only, so its cost follows the number
    of runs that crossed the timeout since the last sweep.
    """
    cutoff = timezone.now() - timedelta(seconds=conf.current().run_timeout)
    since = since if since is not None else cutoff - FIRST_LOOKBACK
    starts = list(
        Event.objects.filter(
            type=EventType.AGENT_STARTED, created_at__gt=since, created_at__lte=cutoff
        )
        .order_by("created_at")
        .only("thread_id", "seq", "event_id", "payload", "created_at")[:BATCH]
    )
    cursor = starts[-1].created_at if len(starts) == BATCH else cutoff
    closed = 0
    for start in starts:
        try:
            closed += _close_if_stalled(start)
        except DeliveryError:
            logger.exception("could not close the stalled run of thread %s", start.thread_id)
    return closed, cursor


def _close_if_stalled(start: Event) -> bool:
    # Later seqs are never older (delivery/ledger/append.py): older days' partitions are skipped.
    later = Event.objects.filter(
        thread_id=start.thread_id,
        seq__gt=start.seq,
        created_at__gte=start.created_at,
        type__in=(EventType.AGENT_STARTED, *RUN_ENDED),
    )
    if later.exists():
        return False
    run_id = start.payload.get("run_id") if isinstance(start.payload, dict) else None
    if not _emit_timeout(start, run_id):
        return False  # another reconciler closed it first
    metrics.silent_failures.labels(kind="stalled_run").inc()
    logger.error(
        "thread %s: run %s had no terminal event within %ss; closed with agent_failed",
        start.thread_id,
        run_id,
        conf.current().run_timeout,
    )
    return True


def _emit_timeout(start: Event, run_id: str | None) -> bool:
    """Emit the run's `agent_failed {reason: timeout}` once; True if this call created it."""
    with transaction.atomic():
        events, created = services.emit_once(
            start.thread_id,
            [(EventType.AGENT_FAILED, {"reason": "timeout", "run_id": run_id})],
            critical=True,
            idempotency_key=f"run-timeout:{start.event_id}",
        )
        if created:
            transaction.on_commit(
                partial(
                    signals.run_timed_out.send,
                    sender=Event,
                    thread_id=start.thread_id,
                    run_id=run_id,
                    event=events[0],
                )
            )
    return created
