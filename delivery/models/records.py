"""Delivery as ranges: each send of a seq range, each move of a thread's ack watermark, each
range given up on, and copies of audited events."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from delivery.models.ledger import Connection, Thread


def thread_key(related_name: str) -> "models.ForeignKey[Thread, Thread]":
    """A range's thread: no database constraint (a check per inserted row on the hot path;
    the thread exists by construction) and no index of its own (the primary key leads with it)."""
    return models.ForeignKey(
        Thread,
        on_delete=models.CASCADE,
        related_name=related_name,
        db_constraint=False,
        db_index=False,
    )


def connection_key(related_name: str) -> "models.ForeignKey[Connection | None, Connection | None]":
    """The connection a range was written on, if any; it may be pruned before the range."""
    return models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name=related_name,
        db_constraint=False,
        db_index=False,
    )


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
    thread = thread_key("attempts")
    connection = connection_key("attempts")
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
    thread = thread_key("ack_ranges")
    connection = connection_key("ack_ranges")
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
