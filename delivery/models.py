"""The ledger: every agent event is a row here before it is anything else."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Thread(models.Model):
    """A conversation. `last_seq` is the highest sequence number allocated in it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads"
    )
    title = models.CharField(max_length=200, blank=True)
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="thread_owner_recent_idx"),
            # The console's thread list pages by (created_at, id), newest first.
            models.Index(fields=["-created_at", "-id"], name="thread_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class EventState(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    ACKED = "acked"
    UNDELIVERED = "undelivered"


UNACKED_STATES = (EventState.PENDING, EventState.SENT)


class Event(models.Model):
    """One agent event. `(thread, seq)` is unique and seqs are contiguous per thread."""

    # No index of its own: the (thread, seq) unique index serves every lookup by thread, and
    # each index is one more write on the emit path.
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    seq = models.BigIntegerField()
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    critical = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    first_sent_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    acked_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=EventState.choices, default=EventState.PENDING)
    undelivered_cause = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "seq"], name="event_thread_seq_uniq"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="event_seq_positive"),
        ]
        indexes = [
            # The reconciler reads only this: its cost follows the unacknowledged set,
            # not the ledger's size.
            models.Index(
                fields=["state", "last_sent_at"],
                condition=Q(state__in=UNACKED_STATES),
                name="event_unacked_idx",
            ),
            # A thread's unacknowledged tail: the resume point and the ack floor.
            models.Index(
                fields=["thread", "seq"],
                condition=~Q(state="acked"),
                name="event_open_thread_idx",
            ),
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id}#{self.seq} {self.type}"


class ConnectionState(models.TextChoices):
    LIVE = "live"
    CLOSED = "closed"
    DEAD = "dead"


class Connection(models.Model):
    """One WebSocket (or long-poll) session of a client on a thread."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    channel_name = models.CharField(max_length=200, blank=True)
    transport = models.CharField(max_length=16, default="websocket")
    state = models.CharField(
        max_length=8, choices=ConnectionState.choices, default=ConnectionState.LIVE
    )
    resumed_from = models.BigIntegerField(null=True, blank=True)
    acked_seq = models.BigIntegerField(default=0)
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_code = models.IntegerField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)
    server = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["thread"],
                condition=Q(state="live"),
                name="connection_live_idx",
            ),
            models.Index(fields=["thread", "-opened_at"], name="connection_thread_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.transport} {self.id} ({self.state})"


class Trigger(models.TextChoices):
    LIVE = "live"
    RESUME = "resume"
    HEAL = "heal"
    RETRY = "retry"
    REPLAY = "replay"


class DeliveryAttempt(models.Model):
    """A batch of events (a seq range) sent to a thread outside the plain live path."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="attempts")
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    from_seq = models.BigIntegerField()
    to_seq = models.BigIntegerField()
    event_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["thread", "created_at"], name="attempt_thread_time_idx")]

    def __str__(self) -> str:
        return f"{self.trigger} {self.from_seq}..{self.to_seq}"


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
    """An operator's audited replay: who, why, what, and how it went (delivery.replay)."""

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
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="replay_items")
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
