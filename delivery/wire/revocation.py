"""Identity holds for a socket's whole life: revoked credentials close their open sockets.

Every socket joins its user's group (`user_group`). Revoking a token, deactivating a user and
logging a session out announce it there after commit, and each socket whose credential it
names closes with 4401 within moments. The heartbeat rechecks a slot's credentials against the
ledger on each tick as a backstop (a revocation written straight to the database, an
announcement lost with a Redis blip), and closes an expired token's socket on its own.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session as StoredSession
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from delivery.fastpath.publisher import publisher
from delivery.models import AccessToken

logger = logging.getLogger(__name__)

ANNOUNCE_TIMEOUT = 5.0  # seconds; the heartbeat's recheck covers an announcement that fails


def user_group(user_id: int) -> str:
    """The channel-layer group of every open socket of one user."""
    return f"user.{user_id}"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a socket was opened with: a token or a session; in an announcement, `user`
    stands for every credential of the user."""

    kind: str  # "token", "session", "jwt" or "user"
    key: str = ""  # the token's id, the session key, or the JWT's expiry (epoch seconds)

    @classmethod
    def token(cls, token_id: uuid.UUID) -> "Credential":
        return cls("token", str(token_id))

    @classmethod
    def session(cls, session_key: str | None) -> "Credential":
        return cls("session", session_key or "")

    @classmethod
    def jwt(cls, expires: int) -> "Credential":
        return cls("jwt", str(expires))

    def covers(self, other: "Credential") -> bool:
        """Whether revoking `self` revokes a socket opened with `other` (`jwt` with no key:
        every JWT of the user)."""
        if self.kind == "user" or (self.kind, self.key) == (other.kind, other.key):
            return True
        return self.kind == other.kind == "jwt" and not self.key


def announce(*, user_id: int, credential: Credential, reason: str = "credential revoked") -> None:
    """Tell `user_id`'s open sockets, after the current transaction commits, that
    `credential` no longer holds. Never raises: the heartbeat's recheck is the backstop."""
    message = {"type": "auth.revoked", "kind": credential.kind, "key": credential.key}
    transaction.on_commit(lambda: _send(user_group(user_id), {**message, "reason": reason}))


def _send(group: str, message: dict[str, Any]) -> None:
    try:
        publisher.call(publisher.layer.group_send(group, message), timeout=ANNOUNCE_TIMEOUT)
    except Exception:
        logger.exception(
            "could not announce a revocation to %s; the heartbeat will catch it", group
        )


def user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """`post_save` of the user model: a deactivated user's sockets close."""
    if not instance.is_active:
        announce(user_id=instance.pk, credential=Credential("user"), reason="account deactivated")


def user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """`user_logged_out`: the sockets opened with this browser session close."""
    if user is not None and request is not None:
        key = request.session.session_key
        announce(user_id=user.pk, credential=Credential.session(key), reason="logged out")


def revoked_among(held: Sequence[tuple[int, Credential]]) -> set[int]:
    """The positions in `held` (user, credential) that no longer hold, in three queries."""
    now = timezone.now()
    users = {user_id for user_id, _ in held}
    inactive = set(
        get_user_model().objects.filter(pk__in=users, is_active=False).values_list("pk", flat=True)
    )
    tokens = {c.key for _, c in held if c.kind == "token"}
    dead_tokens = {
        str(pk)
        for pk in AccessToken.objects.filter(pk__in=tokens)
        .filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=now))
        .values_list("pk", flat=True)
    }
    live_keys = _live_sessions({c.key for _, c in held if c.kind == "session"}, now)
    return {
        i
        for i, (user_id, credential) in enumerate(held)
        if user_id in inactive
        or (credential.kind == "token" and credential.key in dead_tokens)
        or (credential.kind == "session" and credential.key not in live_keys)
        or (credential.kind == "jwt" and int(credential.key) <= now.timestamp())
    }


DATABASE_SESSIONS = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}
COOKIE_SESSIONS = "django.contrib.sessions.backends.signed_cookies"


def _live_sessions(keys: set[str], now: Any) -> set[str]:
    """The session keys the configured engine still holds: one query for the database engines,
    the engine's own `exists` for the others. Signed-cookie sessions live in the browser and
    cannot be ended on the server, so only the logout announcement closes their sockets."""
    if not keys:
        return set()
    engine = settings.SESSION_ENGINE
    if engine in DATABASE_SESSIONS:
        return set(
            StoredSession.objects.filter(session_key__in=keys, expire_date__gt=now).values_list(
                "session_key", flat=True
            )
        )
    if engine == COOKIE_SESSIONS:
        return keys
    store = import_module(engine).SessionStore
    return {key for key in keys if store().exists(key)}
