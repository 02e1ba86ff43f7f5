"""Identity holds for a socket's whole life: each attack keeps a socket open while its
credential is taken away, and the socket must close with 4401 and post nothing more."""

import asyncio
import contextlib
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from delivery.models import AccessToken, Event
from delivery.wire.tokens import issue_token, revoke_token
from tests.delivery.wsclient import connect, db, send

pytestmark = pytest.mark.django_db(transaction=True)
BOUND = 5.0  # seconds from the revocation to the close


async def _closed_with_4401(ws, timeout: float = BOUND) -> dict:
    """The frames until the close: an `unauthenticated` error, then 4401."""
    started, error = time.monotonic(), None
    while True:
        output = await ws.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            assert output["code"] == 4401
            assert time.monotonic() - started < timeout
            return error or {}
        if '"unauthenticated"' in output.get("text", ""):
            error = output


async def _posts_nothing_more(ws, thread) -> None:
    before = await db(Event.objects.filter(thread=thread).count)()
    with contextlib.suppress(Exception):  # a closed communicator may refuse the send itself
        await send(ws, {"type": "message", "text": "still here?", "client_id": "late"})
    await asyncio.sleep(0.3)
    assert await db(Event.objects.filter(thread=thread).count)() == before


def _newest_token_id():
    return AccessToken.objects.order_by("-created_at").values_list("pk", flat=True).first()


async def test_revoking_the_token_closes_its_socket(thread, user):
    token = await db(issue_token)(user=user)
    ws, _ = await connect(thread, user, token=token)

    await db(revoke_token)(token_id=await db(_newest_token_id)())

    error = await _closed_with_4401(ws)
    assert "revoked" in error.get("text", "")
    await _posts_nothing_more(ws, thread)


async def test_another_token_of_the_same_user_stays_open(thread, user):
    kept = await db(issue_token)(user=user)
    ws, _ = await connect(thread, user, token=kept)
    await db(issue_token)(user=user)

    await db(revoke_token)(token_id=await db(_newest_token_id)())

    assert await ws.receive_nothing(timeout=1.0)
    await ws.disconnect()


async def test_deactivating_the_user_closes_every_socket(thread, user):
    first, _ = await connect(thread, user)
    second, _ = await connect(thread, user)

    user.is_active = False
    await db(user.save)()

    for ws in (first, second):
        error = await _closed_with_4401(ws)
        assert "deactivated" in error.get("text", "")


async def test_logging_out_closes_the_sessions_socket(thread, user):
    browser = Client()
    await db(browser.force_login)(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    ws = WebsocketCommunicator(
        application,
        f"/ws/threads/{thread.id}/",
        headers=[(b"cookie", cookie), (b"origin", b"http://127.0.0.1")],
    )
    assert (await ws.connect(timeout=5))[0]
    # `hello` follows the join of the user's group; a logout before it, in the milliseconds
    # after the handshake's check, is left to the heartbeat's recheck (one ping interval).
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
    await db(browser.post)("/accounts/logout/")

    error = await _closed_with_4401(ws)
    # The announcement says why; the heartbeat's recheck, if it came first, says less.
    assert '"unauthenticated"' in error.get("text", "")


async def test_a_revocation_written_straight_to_the_database_is_caught(thread, user, settings):
    """No announcement at all: the heartbeat's recheck is the backstop."""
    settings.LEDGERLINE = {**settings.LEDGERLINE, "PING_INTERVAL": 0.5, "PING_TIMEOUT": 5.0}
    token = await db(issue_token)(user=user)
    ws, _ = await connect(thread, user, token=token)

    await db(AccessToken.objects.update)(revoked_at=timezone.now())

    await _closed_with_4401(ws, timeout=3.0)


async def test_an_expired_token_closes_its_socket_when_it_expires(thread, user, settings):
    """At the default ping interval (5 s): the close comes from the socket's own timer."""
    settings.LEDGERLINE = {**settings.LEDGERLINE, "PING_INTERVAL": 5.0, "PING_TIMEOUT": 12.0}
    token = await db(issue_token)(user=user, ttl=2)
    ws, _ = await connect(thread, user, token=token)
    expires_at = (await db(AccessToken.objects.get)()).expires_at

    error = await _closed_with_4401(ws, timeout=4.0)

    assert "expired" in error.get("text", "")
    assert timezone.now() - expires_at < timedelta(seconds=1)


async def test_an_expired_token_is_caught_by_the_recheck_too(thread, user, settings):
    """The backstop alone: a token whose expiry was moved forward in the database."""
    settings.LEDGERLINE = {**settings.LEDGERLINE, "PING_INTERVAL": 0.5, "PING_TIMEOUT": 5.0}
    token = await db(issue_token)(user=user, ttl=3600)
    ws, _ = await connect(thread, user, token=token)

    await db(AccessToken.objects.update)(expires_at=timezone.now())

    await _closed_with_4401(ws, timeout=3.0)


@pytest.mark.parametrize(
    "engine", ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cache"]
)
def test_the_recheck_asks_the_configured_session_engine(user, settings, engine):
    """The backstop sees a session ended behind the logout signal's back, whatever the store."""
    from importlib import import_module

    from delivery.wire.revocation import Credential, revoked_among

    settings.SESSION_ENGINE = engine
    store = import_module(engine).SessionStore
    kept, ended = store(), store()
    for session in (kept, ended):
        session["_auth_user_id"] = str(user.pk)
        session.create()
    held = [(user.pk, Credential.session(kept.session_key)),
            (user.pk, Credential.session(ended.session_key))]  # fmt: skip
    assert revoked_among(held) == set()

    store().delete(ended.session_key)

    assert revoked_among(held) == {1}


def test_a_long_poll_with_a_revoked_token_gets_401(client, thread, user):
    token = issue_token(user=user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(f"/api/threads/{thread.id}/events", **auth).status_code == 200

    revoke_token(token_id=AccessToken.objects.get().pk)

    assert client.get(f"/api/threads/{thread.id}/events", **auth).status_code == 401
