"""Readiness: whether this deployment has proven, by behaviour, that it delivers.

It follows the last full verification (startup, console, `verify_delivery`, or beat's recheck),
and a runtime canary can only take it down: a canary that failed after the last full
verification makes it 503 until a later canary or full verification passes, while a passing
canary never lifts a failed full verification (it checks one path, not the stack). After a
failure beat reruns the full verification every minute (monitoring.tasks.run_canary).
"""

from dataclasses import dataclass

from django.db.models import QuerySet

from monitoring.models import CANARY_TRIGGER, VerificationRun


@dataclass
class Readiness:
    status: str  # ready, failing or unverified
    detail: str
    verification: VerificationRun | None = None
    canary: VerificationRun | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"


def _finished() -> QuerySet[VerificationRun]:
    return VerificationRun.objects.filter(finished_at__isnull=False).order_by("-started_at")


def last_full_verification() -> VerificationRun | None:
    return _finished().exclude(trigger=CANARY_TRIGGER).first()


def readiness() -> Readiness:
    """Two reads: the last full verification, and the last canary run after it."""
    full = last_full_verification()
    if full is None:
        return Readiness("unverified", "no full verification has run yet")
    canary = _finished().filter(trigger=CANARY_TRIGGER, started_at__gt=full.started_at).first()
    if not full.ok:
        failed = ", ".join(full.failed_checks)
        return Readiness("failing", f"verification #{full.pk} failed: {failed}", full, canary)
    if canary is not None and not canary.ok:
        return Readiness("failing", f"canary #{canary.pk} failed after it", full, canary)
    return Readiness("ready", f"verification #{full.pk} passed", full, canary)
