"""Console records: the audit of message-content reveals, paced replays, and the console's
permissions."""

from django.conf import settings
from django.db import models


class ContentReveal(models.Model):
    """A staff member looked at an event's payload, and said why. Content is hidden until
    someone does."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    # The event, and its copy in delivery.AuditedEvent that outlives retention.
    event_id = models.UUIDField(db_index=True)
    thread_id = models.UUIDField(db_index=True)
    revealed_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=300, blank=True)  # empty only on reveals before 0005

    class Meta:
        default_permissions = ()
        permissions = [
            ("view_console", "Can open the operator console"),
            ("reveal_content", "Can reveal message content (audited)"),
            ("replay_events", "Can dry-run and replay events"),
            ("run_verification", "Can run startup verification"),
            ("manage_alerts", "Can acknowledge and resolve alerts"),
            ("manage_api_keys", "Can create and revoke service API keys"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name} revealed {self.event_id} at {self.revealed_at:%Y-%m-%d %H:%M}"


class PacedState(models.TextChoices):
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    DONE = "done"


class PacedReplay(models.Model):
    """A replay too large to send at once, sent as waves: each wave an audited delivery replay
    of at most console.pacing.WAVE_EVENTS events, one wave every `pause` seconds, so live
    traffic keeps flowing while a bulk recovery runs. `waves` is the plan frozen on confirm:
    per wave, `[[thread_id, [seq, ...]], ...]`."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    reason = models.CharField(max_length=500)
    ticket = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=8)
    scope_detail = models.JSONField(default=dict)
    planned_events = models.PositiveIntegerField()
    planned_threads = models.PositiveIntegerField()
    pause = models.FloatField()
    waves = models.JSONField(default=list)
    next_wave = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # acknowledged before their wave went out
    state = models.CharField(max_length=10, choices=PacedState.choices, default=PacedState.RUNNING)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"paced replay {self.pk} ({self.next_wave}/{len(self.waves)} waves, {self.state})"

    @property
    def wave_count(self) -> int:
        return len(self.waves)

    @property
    def finished(self) -> bool:
        return self.state in (PacedState.CANCELLED, PacedState.DONE)
