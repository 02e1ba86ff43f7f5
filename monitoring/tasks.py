"""Celery tasks of monitoring: thin shells around verification, the canary and the webhook."""

import socket

from celery import shared_task

from monitoring import verification
from monitoring.models import CANARY_TRIGGER
from monitoring.readiness import last_full_verification
from monitoring.webhook import send_alert_webhook  # registers the task with the worker

__all__ = ["ping", "run_canary", "send_alert_webhook", "verify_delivery"]

RECHECK_TRIGGER = "recheck"


@shared_task
def ping() -> str:
    """Answered by a worker: the verification's proof that one consumes our queue."""
    return socket.gethostname()


@shared_task(ignore_result=True)
def verify_delivery(trigger: str = "task") -> None:
    verification.run_verification(trigger=trigger)


@shared_task(ignore_result=True)
def run_canary() -> None:
    """Beat runs this every CANARY_INTERVAL seconds (monitoring/conf.py); a failure alerts.

    While the last full verification failed (or none ran), the canary alone could never make
    the deployment ready again (monitoring/readiness.py): the full verification runs instead,
    as a `recheck`, until it passes."""
    full = last_full_verification()
    if full is None or not full.ok:
        verification.run_verification(trigger=RECHECK_TRIGGER)
    else:
        verification.run_verification(trigger=CANARY_TRIGGER, only=["canary"])
