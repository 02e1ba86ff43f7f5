"""Tokens for frontends served apart from Django: a short-lived token for a logged-in session
(POST /api/tokens), and JWT mode, where an identity provider's tokens open sockets and call
the API. Each refusal here is an attack that must fail."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from delivery import emit
from delivery.models import AccessToken
from delivery.wire.tokens import revoke_tokens
from tests.delivery.test_revocation import _closed_with_4401
from tests.delivery.wsclient import connect, db, receive_events

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "a-test-only-secret-of-at-least-thirty-two-bytes"
AUDIENCE = "ledgerline"


@pytest.fixture
def jwt_mode(settings):
    settings.LEDGERLINE = {
        **settings.LEDGERLINE,
        "JWT_ALGORITHM": "HS256",
        "JWT_KEY": SECRET,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_ISSUER": "https://id.example",
        "JWT_LEEWAY": 0,
    }


def signed(user, *, key=SECRET, algorithm="HS256", seconds=300, **claims):
    body = {
        "sub": user.username,
        "aud": AUDIENCE,
        "iss": "https://id.example",
        "exp": int(time.time()) + seconds,
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def session_client(user, *, csrf=True):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/")  # sets the CSRF cookie
    headers = {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value} if csrf else {}
    return browser, headers


# POST /api/tokens


def test_a_logged_in_session_gets_a_short_lived_token_that_works(user, thread):
    browser, headers = session_client(user)

    answer = browser.post(
        "/api/tokens", {"label": "spa"}, content_type="application/json", **headers
    )

    assert answer.status_code == 201, answer.content
    token, expires_at = answer.json()["token"], parse_datetime(answer.json()["expires_at"])
    assert abs((expires_at - timezone.now()) - timedelta(seconds=900)) < timedelta(seconds=30)
    record = AccessToken.objects.get(user=user)
    assert record.label == "spa" and abs(record.expires_at - expires_at) < timedelta(seconds=5)
    threads = Client().get("/api/threads", **bearer(token)).json()["threads"]
    assert [t["id"] for t in threads] == [str(thread.id)]


def test_a_token_cannot_mint_tokens(user):
    browser, headers = session_client(user)
    token = browser.post("/api/tokens", content_type="application/json", **headers).json()["token"]

    answer = Client().post("/api/tokens", content_type="application/json", **bearer(token))

    assert answer.status_code == 403 and answer.json()["error"] == "session_required"


def test_a_cross_site_post_without_the_csrf_token_is_refused(user):
    browser, headers = session_client(user, csrf=False)

    answer = browser.post("/api/tokens", content_type="application/json", **headers)

    assert answer.status_code == 403 and answer.json()["error"] == "csrf_failed"
    assert not AccessToken.objects.exists()


def test_nobody_logged_in_gets_no_token():
    answer = Client().post("/api/tokens", content_type="application/json")
    assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated"


@pytest.mark.parametrize("label", [7, "x" * 101, "nul\x00byte", "lone \ud800"])
def test_a_bad_label_is_refused(user, label):
    browser, headers = session_client(user)
    body = json.dumps({"label": label})  # \u0000 and \ud800 travel as JSON escapes

    answer = browser.post("/api/tokens", body, content_type="application/json", **headers)

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_field"
    assert not AccessToken.objects.exists()


def test_issuing_is_rate_limited_per_user(user, settings):
    browser, headers = session_client(user)
    codes = [
        browser.post("/api/tokens", content_type="application/json", **headers).status_code
        for _ in range(31)
    ]
    assert codes[:30] == [201] * 30 and codes[30] == 429


# JWT mode over HTTP


def test_a_providers_jwt_reaches_the_users_threads_and_no_one_elses(
    jwt_mode, user, thread, other_user
):
    mine = Client().get("/api/threads", **bearer(signed(user))).json()["threads"]
    assert [t["id"] for t in mine] == [str(thread.id)]
    theirs = Client().get(f"/api/threads/{thread.id}/events", **bearer(signed(other_user)))
    assert theirs.status_code == 404


def _refused(token):
    answer = Client().get("/api/threads", **bearer(token))
    assert answer.status_code == 401, answer.content
    assert answer.json()["error"] == "invalid_token"
    return answer.json()["detail"]


def test_jwts_that_must_be_refused(jwt_mode, user):
    assert "audience" in _refused(signed(user, aud="someone-else")).lower()
    assert "expired" in _refused(signed(user, seconds=-5)).lower()
    assert "signature" in _refused(signed(user, key="another-secret-of-32-bytes-or-so!")).lower()
    assert "issuer" in _refused(signed(user, iss="https://evil.example")).lower()
    assert "exp" in _refused(signed(user, exp=None))
    _refused(jwt.encode({"sub": user.username, "aud": AUDIENCE}, SECRET, algorithm="HS256"))
    # "none" and another algorithm than the configured one
    assert "alg" in _refused(signed(user, key=None, algorithm="none")).lower()
    assert _refused(signed(user, algorithm="HS512"))


def test_a_jwt_naming_no_user_or_an_inactive_one_is_refused(jwt_mode, user):
    assert "no user" in _refused(signed(User(username="nobody")))
    user.is_active = False
    user.save()
    assert "inactive" in _refused(signed(user))


def test_without_jwt_mode_a_jwt_is_just_an_invalid_token(user):
    _refused(signed(user))


def test_rs256_checks_against_the_providers_public_key(settings, user):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.LEDGERLINE = {
        **settings.LEDGERLINE,
        "JWT_ALGORITHM": "RS256",
        "JWT_KEY": public.decode(),
        "JWT_AUDIENCE": AUDIENCE,
    }
    good = signed(user, key=private, algorithm="RS256", iss=None)
    assert Client().get("/api/threads", **bearer(good)).status_code == 200
    # An attacker signing HS256 with the public key as the secret (algorithm confusion).
    claims = {"sub": user.username, "aud": AUDIENCE, "exp": int(time.time()) + 300}
    _refused(_hmac_signed(claims, secret=public))
    _refused(signed(user, key=None, algorithm="none", iss=None))


def _hmac_signed(claims, *, secret: bytes) -> str:
    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = head + b"." + part(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(signature)).decode()


# JWT mode on the socket


async def test_a_jwt_opens_a_socket_that_receives_events(jwt_mode, user, thread):
    ws, hello = await connect(thread, user, token=signed(user))
    assert hello["type"] == "hello"
    await db(emit)(thread, "agent_started", {})
    [frame] = await receive_events(ws, 1)
    assert frame["event"] == "agent_started"
    await ws.disconnect()


async def test_a_jwt_socket_closes_when_the_token_expires(jwt_mode, user, thread):
    exp = int(time.time()) + 2
    ws, _ = await connect(thread, user, token=signed(user, exp=exp))
    error = await _closed_with_4401(ws, timeout=5.0)
    assert "expired" in error.get("text", "") and time.time() - exp < 1.0


async def test_revoking_the_users_tokens_closes_their_jwt_sockets(jwt_mode, user, thread):
    ws, _ = await connect(thread, user, token=signed(user))
    await db(revoke_tokens)(user=user)
    await _closed_with_4401(ws)


async def test_deactivating_the_user_closes_their_jwt_sockets(jwt_mode, user, thread):
    ws, _ = await connect(thread, user, token=signed(user))
    user.is_active = False
    await db(user.save)()
    await _closed_with_4401(ws)
