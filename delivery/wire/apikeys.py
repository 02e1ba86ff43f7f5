"""Service API keys: `Authorization: Bearer llk_...` for producers in any language.

A key is 32 random bytes, so its SHA-256 is all that needs storing: there is nothing to guess
and nothing to stretch. Each request is checked against the key's scope and its per-minute
budget, and stamps `last_used_at` at most once a minute.
"""

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.utils import timezone

from delivery.exceptions import InvalidToken
from delivery.ledger import budgets
from delivery.models import ApiKey, KeyScope

PREFIX = "llk_"
STAMP_EVERY = timedelta(minutes=1)


def is_api_key(bearer: str) -> bool:
    return bearer.startswith(PREFIX)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    *, name: str, scopes: Sequence[str], per_minute: int = 600, created_by: str = ""
) -> tuple[ApiKey, str]:
    """A new key; returns its row and the key itself, which is never stored or shown again."""
    unknown = set(scopes) - set(KeyScope.values)
    if not scopes or unknown:
        raise ValueError(f"scopes must be some of {', '.join(KeyScope.values)}")
    key = PREFIX + secrets.token_urlsafe(32)
    record = ApiKey.objects.create(
        name=name,
        prefix=key[:12],
        key_hash=_digest(key),
        scopes=sorted(set(scopes)),
        per_minute=per_minute,
        created_by=created_by,
    )
    return record, key


def revoke_api_key(*, key_id: uuid.UUID) -> None:
    ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())


def key_for(bearer: str, *, scope: str) -> ApiKey:
    """The live key behind `bearer` with `scope`, after counting this request against its
    budget. Raises `InvalidToken` (401), or `RateLimited` (429)."""
    record = ApiKey.objects.filter(key_hash=_digest(bearer), revoked_at__isnull=True).first()
    if record is None:
        raise InvalidToken("API key is unknown or revoked")
    if scope not in record.scopes:
        raise InvalidToken(f"this API key has no {scope!r} scope")
    budgets.take(subject=f"key:{record.pk}", budget="requests", limit=record.per_minute, window=60)
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > STAMP_EVERY:
        ApiKey.objects.filter(pk=record.pk).update(last_used_at=now)
    return record
