"""Monitoring subscribes to the delivery core's hooks (delivery never imports monitoring), and
to two of Celery's: a worker's heartbeat, and the end of each reconciler sweep."""

import logging
import uuid
from typing import Any

from celery.signals import heartbeat_sent, task_postrun
from django.dispatch import receiver

from delivery import signals
from monitoring.alerts import raise_alert
from monitoring.clearing import resolve_cleared
from monitoring.workers import record_heartbeat

logger = logging.getLogger(__name__)

RECONCILE_TASK = "delivery.tasks.reconcile"


@receiver(signals.event_undelivered, dispatch_uid="monitoring.undelivered")
def alert_on_undelivered(
    sender: Any, *, thread_id: uuid.UUID, first: int, last: int, cause: str, **kwargs: Any
) -> None:
    raise_alert(
        kind="undelivered",
        thread_id=thread_id,
        summary=f"{last - first + 1} event(s) undelivered (seq {first}..{last}): {cause}",
        context={"first": first, "last": last, "cause": cause, "kind": "unacked"},
    )


@receiver(signals.run_timed_out, dispatch_uid="monitoring.run_timed_out")
def alert_on_stalled_run(
    sender: Any, *, thread_id: uuid.UUID, run_id: str | None, event: Any, **kwargs: Any
) -> None:
    raise_alert(
        kind="stalled_run",
        thread_id=thread_id,
        summary=f"run {run_id or '(no run_id)'} had no terminal event; closed as timed out",
        context={"run_id": run_id, "closing_seq": event.seq},
    )


@task_postrun.connect(dispatch_uid="monitoring.after_reconcile")
def resolve_after_reconcile(sender: Any = None, **kwargs: Any) -> None:
    """After each reconciler sweep (every RECONCILE_INTERVAL), alerts whose events the client
    has acknowledged since resolve themselves. Never raises into the worker."""
    if getattr(sender, "name", None) != RECONCILE_TASK:
        return
    try:
        resolve_cleared()
    except Exception:
        logger.exception("resolving cleared alerts failed; the next sweep tries again")


@heartbeat_sent.connect(dispatch_uid="monitoring.worker_heartbeat")
def remember_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    """A worker's heartbeat (every 2 s): kept for the console's worker view."""
    record_heartbeat(sender.eventer.hostname)
