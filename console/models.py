"""Console records: the audit of message-content reveals, and the console's permissions."""

from django.conf import settings
from django.db import models


class ContentReveal(models.Model):
    """A staff member looked at an event's payload. Content is hidden until someone does."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    # The event, and its copy in delivery.AuditedEvent that outlives retention.
    event_id = models.UUIDField(db_index=True)
    thread_id = models.UUIDField(db_index=True)
    revealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        permissions = [
            ("view_console", "Can open the operator console"),
            ("reveal_content", "Can reveal message content (audited)"),
            ("replay_events", "Can dry-run and replay events"),
            ("run_verification", "Can run startup verification"),
            ("manage_alerts", "Can acknowledge and resolve alerts"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name} revealed {self.event_id} at {self.revealed_at:%Y-%m-%d %H:%M}"
