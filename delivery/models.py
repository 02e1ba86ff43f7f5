"""The ledger. Events are written once and never updated; delivery is kept as positions.

- `Event` rows are append-only: one INSERT each, in a table partitioned by day
  (`delivery/partitions.py`); an UPDATE is refused by the database.
- `Thread.acked_seq` and each `Connection`'s `sent_seq` / `acked_seq` are watermarks, the way
  Kafka keeps a consumer group's offsets.
- `DeliveryAttempt` (a send of a seq range), `AckRange` (the thread's ack watermark moving from
  `above` to `upto` at a time) and `UndeliveredRange` (a range given up on, with its cause) are
  ranges, one row per send round, ack flush or verdict, never one per event.

An event's state (committed, sent, acked, undelivered) is derived from these
(`delivery.selectors.event_statuses`).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Thread(models.Model):
    """A conversation: `last_seq` is the highest seq allocated, `acked_seq` the highest seq
    below which every event was acknowledged on some connection of its owner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads"
    )
    title = models.CharField(max_length=200, blank=True)
    last_seq = models.BigIntegerField(default=0)
    acked_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # The newest event's `created_at`: with `created_at`, it bounds the day partitions that
    # hold the thread's events, so a read of them skips every other day.
    last_event_at = models.DateTimeField(null=True, blank=True)
    # The reconciler's bookmark (delivery/reconcile.py): when this thread next needs a look,
    # decided when it last read it; an event after `reconciled_at` brings the look forward.
    reconcile_after = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="thread_owner_recent_idx"),
            # The console's thread list pages by (created_at, id), newest first.
            models.Index(fields=["-created_at", "-id"], name="thread_recent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(acked_seq__gte=0) & Q(acked_seq__lte=models.F("last_seq")),
                name="thread_acked_within_allocated",
            ),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)

    @property
    def unacked(self) -> int:
        return self.last_seq - self.acked_seq


class Event(models.Model):
    """One agent event, written once. `(thread, seq)` is unique and seqs are contiguous.

    The table is partitioned by `created_at` (one partition a day), so its DDL lives in the
    migrations and `delivery/partitions.py`, not here: the primary key in PostgreSQL is
    `(thread_id, seq, created_at)` and `event_id` is unique with `created_at`. Django knows the
    row by `event_id`. Nothing references an event row with a foreign key: audits keep a copy
    (`AuditedEvent`), so retention can drop whole partitions.
    """

    event_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(
        Thread,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    seq = models.BigIntegerField()
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    critical = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        managed = False
        db_table = "delivery_event"

    def __str__(self) -> str:
        return f"{self.thread_id}#{self.seq} {self.type}"


class Transport(models.TextChoices):
    WEBSOCKET = "websocket"
    LONGPOLL = "longpoll"


class ConnectionState(models.TextChoices):
    LIVE = "live"
    CLOSED = "closed"
    DEAD = "dead"


class Connection(models.Model):
    """One WebSocket, or one long-poll session, of a client on a thread, with its watermarks:
    `sent_seq` (the highest seq written to it) and `acked_seq` (the highest its client acked)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    channel_name = models.CharField(max_length=200, blank=True)
    transport = models.CharField(
        max_length=16, choices=Transport.choices, default=Transport.WEBSOCKET
    )
    state = models.CharField(
        max_length=8, choices=ConnectionState.choices, default=ConnectionState.LIVE
    )
    resumed_from = models.BigIntegerField(null=True, blank=True)
    sent_seq = models.BigIntegerField(default=0)
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
    HEAL = "heal"
    RESUME = "resume"
    POLL = "poll"
    RETRY = "retry"
    REPLAY = "replay"


class Outcome(models.TextChoices):
    SENT = "sent", "written to the client"
    NO_LISTENERS = "no_listeners", "nobody connected"
    DROPPED = "dropped", "channel layer dropped it (channel full)"
    FAILED = "failed", "channel layer failed"


class DeliveryAttempt(models.Model):
    """One send of a seq range: written by the socket or poll that wrote the frames
    (`connection` set, outcome `sent`), or by the sender of a group message that did not
    reach every socket, or by a retry or replay round (`connection` empty).

    The DDL is in the migrations: the primary key is `(thread_id, last_seq, id)`, so it also
    serves "a thread's sends from this seq on".
    """

    id = models.BigAutoField(primary_key=True)
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="attempts", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    connection = models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="attempts",
        db_constraint=False,
        db_index=False,
    )
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.SENT)
    created_at = models.DateTimeField(default=timezone.now)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        managed = False
        db_table = "delivery_deliveryattempt"

    def __str__(self) -> str:
        return f"{self.trigger} {self.first_seq}..{self.last_seq} {self.outcome}"

    @property
    def event_count(self) -> int:
        return self.last_seq - self.first_seq + 1


class AckRange(models.Model):
    """The thread's ack watermark moved from `above` to `upto` at `acked_at`: every event with
    `above < seq <= upto` was first acknowledged then, on `connection`. Ranges of one thread
    never overlap, so each event's ack time is one row. Primary key `(thread_id, upto, id)`."""

    id = models.BigAutoField(primary_key=True)
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="ack_ranges", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    connection = models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="ack_ranges",
        db_constraint=False,
        db_index=False,
    )
    above = models.BigIntegerField()
    upto = models.BigIntegerField()
    acked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        managed = False
        db_table = "delivery_ackrange"

    def __str__(self) -> str:
        return f"acked {self.above + 1}..{self.upto} at {self.acked_at}"


class UndeliveredRange(models.Model):
    """Seqs `first_seq..last_seq` were given up on (`cause`), and an alert was raised. A replay
    reopens the range (`reopened_at`); an ack beyond `last_seq` settles it."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="undelivered")
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    cause = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopened_by = models.CharField(max_length=150, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["thread", "last_seq"],
                condition=Q(reopened_at__isnull=True),
                name="undelivered_open_idx",
            ),
            models.Index(fields=["created_at"], name="undelivered_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"undelivered {self.first_seq}..{self.last_seq}: {self.cause}"

    @property
    def event_count(self) -> int:
        return self.last_seq - self.first_seq + 1


class AuditedEvent(models.Model):
    """A copy of an event that an audit (a replay, a content reveal) refers to. Retention
    drops whole partitions of `Event`; the copy keeps the audited record answerable."""

    event_id = models.UUIDField(primary_key=True)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    critical = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    preserved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["thread", "seq"], name="audited_thread_seq_idx")]

    def __str__(self) -> str:
        return f"audited {self.thread_id}#{self.seq} {self.type}"


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
