"""Celery tasks of the console: thin shells over monitoring's verification and the paced
replay's waves."""

from celery import shared_task

from console import pacing
from monitoring import verification
from monitoring.models import VerificationRun


@shared_task(ignore_result=True)
def run_verification_checks(run_id: int) -> None:
    """Complete a verification run the console recorded; the page shows it check by check."""
    verification.complete_run(VerificationRun.objects.get(pk=run_id))


@shared_task(ignore_result=True, acks_late=True)
def send_paced_wave(paced_id: int, number: int = 0) -> None:
    """Send a paced replay's wave `number`, and queue the next one `pause` seconds later."""
    paced = pacing.send_wave(paced_id, number)
    if paced is not None and not paced.finished:
        send_paced_wave.apply_async((paced_id, number + 1), countdown=paced.pause)
