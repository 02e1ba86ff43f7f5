"""Celery tasks of the console: thin shells over monitoring's verification checks."""

from celery import shared_task
from django.utils import timezone

from delivery import conf
from monitoring import verification
from monitoring.models import VerificationRun


@shared_task(ignore_result=True)
def run_verification_checks(run_id: int) -> None:
    """Run monitoring's startup checks one by one, saving after each so the page shows progress.

    The result is reported exactly as `monitoring.verification.run_verification` reports it.
    """
    run = VerificationRun.objects.get(pk=run_id)
    if run.finished_at is not None:
        return
    timeout = conf.timing("CHECK_TIMEOUT")
    for name, check in verification.CHECKS:
        run.checks = [*run.checks, verification.run_check(name, check, timeout)]
        run.save(update_fields=["checks"])
    run.ok = all(check["ok"] for check in run.checks)
    run.finished_at = timezone.now()
    run.save(update_fields=["ok", "finished_at"])
    verification.report(run)
