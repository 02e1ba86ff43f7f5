"""WebSocket authentication: the session cookie for browsers, `?token=` for programs (one of
our tokens, or in JWT mode the identity provider's)."""

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from delivery.exceptions import InvalidToken
from delivery.wire.revocation import Credential
from delivery.wire.tokens import bearer

logger = logging.getLogger(__name__)


def query_params(scope: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def credential_of(scope: dict[str, Any]) -> Credential:
    """What the socket was opened with: the token the middleware checked, else the session."""
    credential = scope.get("credential")
    if isinstance(credential, Credential):
        return credential
    session = scope.get("session")
    return Credential.session(getattr(session, "session_key", None))


_bearer = database_sync_to_async(bearer)


class TokenAuthMiddleware:
    """Replaces the session user with the token's user when `?token=` is present.

    An invalid token leaves the scope anonymous with `auth_error` set, so the consumer can
    close with 4401 and say why.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        # This frame lives as long as the socket: it keeps only the new scope.
        return await self.inner(await self.authenticate(scope), receive, send)

    @staticmethod
    async def authenticate(scope: dict[str, Any]) -> dict[str, Any]:
        tokens = query_params(scope).get("token")
        if not tokens:
            return scope
        scope = dict(scope)
        try:
            who = await _bearer(tokens[0])
            scope["user"], scope["credential"] = who.user, who.credential
            scope["credential_expires_at"] = who.expires_at
        except InvalidToken as exc:
            scope["user"] = AnonymousUser()
            scope["auth_error"] = str(exc)
        return scope


class TokenOrSessionAuth:
    """`?token=` decides the user by itself, so a token connection skips the cookie, session
    and session-user middleware: their lazy objects and scope copies would stay alive for the
    whole life of every idle socket, unused."""

    def __init__(self, inner: Any) -> None:
        self.token = TokenAuthMiddleware(inner)
        self.session = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        app = self.token if query_params(scope).get("token") else self.session
        return await app(scope, receive, send)


def TokenOrSessionAuthMiddlewareStack(inner: Any) -> Any:
    return TokenOrSessionAuth(inner)


class LedgerOriginValidator(OriginValidator):
    """Browsers must come from an allowed host. A client without an Origin header is a
    program, and it may connect only with a token: a cookie is never enough there."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        if not has_origin and query_params(scope).get("token"):
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)


def OriginCheckedStack(inner: Any) -> Any:
    """`WS_ALLOWED_ORIGINS` (default: `ALLOWED_HOSTS`) without "*": a wildcard would also admit
    a cookie with no Origin at all, which is exactly cross-site WebSocket hijacking."""
    configured = getattr(settings, "WS_ALLOWED_ORIGINS", settings.ALLOWED_HOSTS)
    allowed = [origin for origin in configured if origin != "*"]
    if len(allowed) != len(configured):
        logger.warning("WS_ALLOWED_ORIGINS contains '*'; ignored. List the browser origins.")
    return LedgerOriginValidator(TokenOrSessionAuthMiddlewareStack(inner), allowed)
