"""Records of running the ledger: access tokens, the reconciler's heartbeat, operator replays."""

import uuid

from django.conf import settings
from django.db import models

from delivery.models.ledger import Thread


class AccessToken(models.Model):
    """A revocable record behind a signed, expiring API token (`manage.py issue_token`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token {self.id} for {self.user_id}"


class ReconcilerHeartbeat(models.Model):
    """One row per reconciler name: when it last ran, how long it took and what it did.

    `runs_checked_until` is the stalled-run cursor: every `agent_started` event created before
    it has been checked once against the run timeout.
    """

    name = models.CharField(max_length=50, primary_key=True)
    last_started_at = models.DateTimeField()
    last_finished_at = models.DateTimeField()
    last_duration = models.FloatField(default=0.0)
    runs_checked_until = models.DateTimeField(null=True, blank=True)
    last_report = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_finished_at}"


class ReplayState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"


FINISHED_REPLAY_STATES = (ReplayState.CANCELLED, ReplayState.DONE, ReplayState.FAILED)


class ReplayScope(models.TextChoices):
    EVENT = "event", "single event"
    RANGE = "range", "seq range"
    THREAD = "thread", "all undelivered in a thread"
    FILTER = "filter", "all undelivered matching a search"


class ReplayRequest(models.Model):
    """An operator's audited replay: who, why, what, and how it went (delivery.repair.replay)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    reason = models.CharField(max_length=500)
    ticket = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=8, choices=ReplayScope.choices)
    scope_detail = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=ReplayState.choices, default=ReplayState.QUEUED)
    planned_events = models.PositiveIntegerField(default=0)
    planned_threads = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True)

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="replay_recent_idx")]

    def __str__(self) -> str:
        return f"replay {self.pk} ({self.scope}, {self.state})"

    @property
    def done_count(self) -> int:
        return self.sent + self.failed

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_REPLAY_STATES


class ReplayOutcome(models.TextChoices):
    PLANNED = "planned"
    SENT_LIVE = "sent_live", "sent to a live connection"
    ON_NEXT_CONNECT = "on_next_connect", "no live connection: goes out on next connect"
    FAILED = "failed", "channel layer refused it"
    CANCELLED = "cancelled"


class ReplayItem(models.Model):
    """One event of a replay and what happened to it."""

    replay = models.ForeignKey(ReplayRequest, on_delete=models.CASCADE, related_name="items")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="replay_items")
    event_id = models.UUIDField()  # the event, and its copy in AuditedEvent
    seq = models.BigIntegerField()
    state_before = models.CharField(max_length=16)
    outcome = models.CharField(
        max_length=16, choices=ReplayOutcome.choices, default=ReplayOutcome.PLANNED
    )
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["replay", "thread", "seq"], name="replayitem_order_idx"),
            models.Index(fields=["thread", "seq"], name="replayitem_thread_idx"),
        ]

    def __str__(self) -> str:
        return f"replay {self.replay_id} {self.thread_id}#{self.seq} {self.outcome}"
