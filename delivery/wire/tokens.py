"""Signed, expiring, revocable API tokens for programmatic clients, and `bearer()`: the user
and credential behind any bearer token a client sends (ours, or in JWT mode a provider's)."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.core import signing
from django.utils import timezone

from delivery import conf
from delivery.exceptions import InvalidToken
from delivery.models import AccessToken
from delivery.wire import jwts, revocation
from delivery.wire.revocation import Credential

_SALT = "ledgerline.access-token"


def issue_token(*, user: User, label: str = "", ttl: int | None = None) -> str:
    """Create a token row and return its signed string. Only the caller ever sees the string."""
    seconds = ttl if ttl is not None else conf.current().token_ttl
    record = AccessToken.objects.create(
        user=user, label=label, expires_at=timezone.now() + timedelta(seconds=seconds)
    )
    return signing.dumps(str(record.id), salt=_SALT, compress=False)


def revoke_token(*, token_id: uuid.UUID) -> None:
    """Revoke one token; its open sockets close with 4401 (delivery/wire/revocation.py)."""
    user_ids = list(
        AccessToken.objects.filter(pk=token_id, revoked_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    AccessToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    for user_id in user_ids:
        revocation.announce(user_id=user_id, credential=Credential.token(token_id))


def revoke_tokens(*, user: User) -> int:
    """Revoke every live token of `user` (`manage.py revoke_tokens`); returns how many."""
    live = AccessToken.objects.filter(user=user, revoked_at__isnull=True)
    ids = list(live.values_list("pk", flat=True))
    live.update(revoked_at=timezone.now())
    for token_id in ids:
        revocation.announce(user_id=user.pk, credential=Credential.token(token_id))
    # Sockets opened with the identity provider's tokens close too; the provider decides
    # whether the user may sign in again (deactivate the user to keep them out).
    revocation.announce(user_id=user.pk, credential=Credential("jwt"))
    return len(ids)


def token_record(token: str) -> AccessToken:
    """The live token row a signed token names, with its active user, or `InvalidToken`."""
    try:
        token_id = signing.loads(token, salt=_SALT, max_age=conf.current().token_ttl)
        record = AccessToken.objects.select_related("user").get(pk=uuid.UUID(str(token_id)))
    except (signing.BadSignature, AccessToken.DoesNotExist, ValueError, TypeError):
        raise InvalidToken("token is invalid or expired") from None
    if record.revoked_at is not None or record.expires_at <= timezone.now():
        raise InvalidToken("token is revoked or expired")
    if not record.user.is_active:
        raise InvalidToken("token user is inactive")
    return record


@dataclass(frozen=True, slots=True)
class Bearer:
    user: Any
    credential: Credential
    expires_at: float  # epoch seconds


def bearer(token: str) -> Bearer:
    """Who a bearer token stands for, and the credential their sockets hold, or
    `InvalidToken`: an identity provider's JWT (JWT mode), else one of our signed tokens."""
    if jwts.looks_like_jwt(token):
        user, expires = jwts.verify(token)
        return Bearer(user, Credential.jwt(expires), expires)
    record = token_record(token)
    return Bearer(record.user, Credential.token(record.pk), record.expires_at.timestamp())


def user_for_token(token: str) -> AbstractBaseUser:
    """The active user a bearer token stands for, or `InvalidToken`."""
    user: AbstractBaseUser = bearer(token).user
    return user
