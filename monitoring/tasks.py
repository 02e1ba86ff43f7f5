"""Celery tasks of monitoring: thin shells around verification and the canary."""

import socket

from celery import shared_task

from monitoring import verification


@shared_task
def ping() -> str:
    """Answered by a worker: the verification's proof that one consumes our queue."""
    return socket.gethostname()


@shared_task(ignore_result=True)
def verify_delivery(trigger: str = "task") -> None:
    verification.run_verification(trigger=trigger)


@shared_task(ignore_result=True)
def run_canary() -> None:
    """Beat runs this every LEDGERLINE CANARY_INTERVAL seconds; a failure opens an alert."""
    verification.run_verification(trigger="canary", only=["canary"])
