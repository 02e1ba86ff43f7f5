"""Celery tasks of the delivery core. Each takes ids, calls a service and is idempotent.

The receivers at the end queue them for the layers below, which report through
`delivery.signals` and never import this module (connected in `DeliveryConfig.ready`).
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from celery import shared_task

from delivery.fastpath.fanout import GroupSend
from delivery.ledger import partitions, progress, retention
from delivery.models import Trigger
from delivery.repair import reconcile as reconciler
from delivery.repair import redelivery, replay

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
    """An operator's replay job (delivery.repair.replay); a second delivery is a no-op."""
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


def queue_redelivery(sender: Any, *, sends: Sequence[GroupSend], **kwargs: Any) -> None:
    """A fast-path round missed these thread messages: record each as an attempt, then resend
    exactly that seq range at once, because a dropped *last* event of a burst has no later
    event to reveal its gap. The reconciler covers a resend that cannot be queued."""
    progress.record_group_sends(trigger=Trigger.LIVE, detail="fast path", sends=sends)
    for send in sends:
        try:
            redeliver_range.apply_async(
                (str(send.thread_id), send.first, send.last), countdown=0.2, retry=False
            )
        except Exception:
            logger.exception("could not queue redelivery of thread %s", send.thread_id)


def queue_replay(sender: Any, *, replay_id: int, **kwargs: Any) -> None:
    """An operator's replay was committed: its job runs on a worker."""
    run_replay.delay(replay_id)
