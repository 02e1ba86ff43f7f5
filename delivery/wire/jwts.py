"""JWT mode: an identity provider's tokens open sockets and call the API.

Off unless `JWT_ALGORITHM` is set. PyJWT checks the signature (HS256 with the shared
`JWT_KEY`, or RS256 with the provider's public key), `exp` (required), `aud` (must name
`JWT_AUDIENCE`) and `iss` when `JWT_ISSUER` is set; `sub` is the username of an active user.
A socket opened with one closes when it expires (the heartbeat's recheck), when its user is
deactivated, or when an operator revokes the user's tokens (delivery/wire/revocation.py).
"""

from typing import Any

import jwt
from django.contrib.auth import get_user_model

from delivery import conf
from delivery.exceptions import InvalidToken


def looks_like_jwt(token: str) -> bool:
    """A JWT is three base64url parts, its header a JSON object; our own tokens have no dot."""
    return token.startswith("eyJ") and token.count(".") == 2


def verify(token: str) -> tuple[Any, int]:
    """The active user a JWT names and when it stops being accepted (`exp` plus the leeway,
    epoch seconds), or `InvalidToken`."""
    settings = conf.current()
    if not settings.jwt_algorithm:
        raise InvalidToken("token is invalid or expired")  # JWT mode is off
    try:
        claims = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer or None,
            leeway=settings.jwt_leeway,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"token refused: {exc}") from None
    subject = claims["sub"]
    user = get_user_model().objects.filter(username=str(subject)).first()
    if user is None:
        raise InvalidToken("token names no user")
    if not user.is_active:
        raise InvalidToken("token user is inactive")
    return user, int(claims["exp"]) + int(settings.jwt_leeway)
