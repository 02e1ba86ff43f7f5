"""The ledger itself: threads, their events (written once) and the connections that carry
them, with their watermarks."""

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
    # The reconciler's bookmark (delivery/repair/retry_plan.py): when this thread next needs a look,
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
    migrations and `delivery/ledger/partitions.py`, not here: the primary key in PostgreSQL is
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
