"""Monitoring records: alerts and startup verification runs."""

from django.db import models
from django.db.models import Q

from delivery.models import Thread


class AlertState(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ACTIVE_ALERT_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
# The kinds Ledgerline raises (monitoring/receivers.py, monitoring/verification.py).
ALERT_KINDS = ("undelivered", "stalled_run", "verification_failed", "canary_failed")


class Alert(models.Model):
    """One failure class on one subject. Repeats bump `count` and `last_seen`, never a new row."""

    kind = models.CharField(max_length=40)
    # The deduplication subject: the thread id, or "-" for system-wide alerts.
    subject = models.CharField(max_length=64, default="-")
    thread = models.ForeignKey(
        Thread, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    severity = models.CharField(max_length=10, default="error")
    summary = models.CharField(max_length=300)
    context = models.JSONField(default=dict)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)
    count = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    # Who took it on and who closed it, with what they noted. Ledgerline resolves an alert
    # itself when its condition clears: then `resolved_by` is empty and `cause` says what cleared.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledge_note = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolve_note = models.CharField(max_length=500, blank=True)
    cause = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=Q(state__in=ACTIVE_ALERT_STATES),
                name="alert_one_active_per_subject",
            )
        ]
        indexes = [
            models.Index(
                fields=["thread"],
                condition=Q(state__in=ACTIVE_ALERT_STATES),
                name="alert_active_idx",
            ),
            models.Index(fields=["state", "-last_seen"], name="alert_state_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} ({self.state}, x{self.count})"

    @property
    def resolved_by_ledgerline(self) -> bool:
        return self.state == AlertState.RESOLVED and not self.resolved_by


CANARY_TRIGGER = "canary"


class VerificationRun(models.Model):
    """One full verification run, or a canary run (trigger `canary`: the canary check alone).
    `checks` holds one dict per check, in order: `{"name", "ok", "duration", "detail"}`."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, default="manual")
    ok = models.BooleanField(default=False)
    checks = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["-started_at"], name="verification_recent_idx")]

    def __str__(self) -> str:
        return f"verification {self.pk} {'ok' if self.ok else 'FAILED'}"

    @property
    def is_canary(self) -> bool:
        return self.trigger == CANARY_TRIGGER

    @property
    def failed_checks(self) -> list[str]:
        return [check["name"] for check in self.checks if not check["ok"]]
