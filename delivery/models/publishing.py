"""Service producers: API keys, and the publications each key made."""

import uuid

from django.db import models

from delivery.models.ledger import Thread


class KeyScope(models.TextChoices):
    PUBLISH = "publish"  # emit events to any thread
    READ = "read"  # page any thread's history (before=) and read its presence


class ApiKey(models.Model):
    """A service's key. Only its SHA-256 is stored; the key itself is shown once, at creation.
    A key can publish to any thread but owns none."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16)  # the key's first characters, to recognise it
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    per_minute = models.PositiveIntegerField(default=600)  # requests a minute
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Publication(models.Model):
    """One publish call of a key: the seqs it created in a thread, so every event a service
    emitted is attributed to the key that sent it."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="publications")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="publications")
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One publication per key and Idempotency-Key: two calls racing on two threads
            # cannot both create events under the same key.
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"],
                name="publication_idempotency_key",
                condition=~models.Q(idempotency_key=""),
            ),
        ]
        indexes = [
            models.Index(fields=["thread", "first_seq"], name="publication_thread_idx"),
            models.Index(fields=["api_key", "created_at"], name="publication_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}: {self.thread_id} #{self.first_seq}..{self.last_seq}"
