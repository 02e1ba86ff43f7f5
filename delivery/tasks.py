"""Celery tasks of the delivery core. Each takes ids, calls a service and is idempotent."""

import logging
import uuid

from celery import shared_task

from delivery import partitions, redelivery, replay, retention
from delivery import reconcile as reconciler

logger = logging.getLogger(__name__)

# Seconds between tries while a socket's channel stays full; the reconciler takes over after.
REDELIVERY_BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0)


@shared_task(ignore_result=True, acks_late=True)
def redeliver_range(thread_id: str, first: int, last: int, attempt: int = 0) -> None:
    done = redelivery.redeliver_range(thread_id=uuid.UUID(thread_id), first=first, last=last)
    if done or attempt + 1 >= len(REDELIVERY_BACKOFF):
        return
    redeliver_range.apply_async(
        (thread_id, first, last, attempt + 1), countdown=REDELIVERY_BACKOFF[attempt + 1]
    )


@shared_task(ignore_result=True)
def reconcile() -> None:
    """Celery beat runs this every LEDGERLINE RECONCILE_INTERVAL seconds (settings)."""
    reconciler.reconcile()


@shared_task(ignore_result=True, acks_late=True)
def run_replay(replay_id: int) -> None:
    """An operator's replay job (delivery.replay); a second delivery of the task is a no-op."""
    replay.run_replay(replay_id=replay_id)


@shared_task(ignore_result=True)
def prune_ledger() -> None:
    """Celery beat runs this daily; LEDGERLINE RETENTION_DAYS = 0 turns retention off."""
    cutoff = retention.configured_cutoff()
    if cutoff is None:
        logger.info("prune_ledger: retention is off (RETENTION_DAYS=0); nothing pruned")
        return
    retention.prune_ledger(older_than=cutoff)


@shared_task(ignore_result=True)
def ensure_partitions() -> None:
    """Celery beat runs this hourly: PARTITION_DAYS_AHEAD days of partitions stay ready."""
    partitions.ensure_partitions()
