"""Per-user budgets: counted across transports, refused with the time to wait, per user."""

import json

import pytest

from delivery.exceptions import RateLimited
from delivery.ledger import budgets, services
from delivery.wire.tokens import issue_token
from tests.delivery.wsclient import connect, send
from tests.factories import ThreadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def three_a_minute(settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "MESSAGES_PER_MINUTE": 3}


def test_the_budget_refuses_past_its_limit_and_says_when(three_a_minute):
    user = UserFactory()
    for _ in range(3):
        budgets.take_message(user_id=user.pk)

    with pytest.raises(RateLimited) as refused:
        budgets.take_message(user_id=user.pk)
    assert 1 <= refused.value.retry_after <= 60


def test_another_users_budget_is_untouched(three_a_minute):
    greedy, other = UserFactory(), UserFactory()
    for _ in range(3):
        budgets.take_message(user_id=greedy.pk)

    budgets.take_message(user_id=other.pk)


async def test_socket_and_http_share_one_budget(three_a_minute, client, thread, user):
    ws, _ = await connect(thread, user)
    for i in range(2):
        await send(ws, {"type": "message", "text": "hi", "client_id": f"ws-{i}"})
    from tests.delivery.wsclient import db

    token = await db(issue_token)(user=user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/api/threads/{thread.id}/messages"

    def post(client_id):
        body = json.dumps({"text": "hi", "client_id": client_id})
        return client.post(url, body, content_type="application/json", **auth)

    await _events(ws, 2)
    assert (await db(post)("http-1")).status_code == 201
    refused = await db(post)("http-2")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["error"] == "rate_limited"
    await send(ws, {"type": "message", "text": "hi", "client_id": "ws-3"})
    reply = await _first_error(ws)
    assert reply["code"] == "rate_limited"
    await ws.disconnect()


def test_a_refused_message_is_not_written(three_a_minute):
    thread = ThreadFactory()
    for i in range(3):
        services.post_message(thread=thread, text="hi", client_id=f"c{i}")

    with pytest.raises(RateLimited):
        services.post_message(thread=thread, text="hi", client_id="c4")
    assert thread.events.filter(type="user_message").count() == 3  # the agent may answer


async def test_sockets_past_the_budget_are_refused_with_4429(settings, thread, user):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "SOCKETS_PER_USER": 2}
    kept = [(await connect(thread, user))[0] for _ in range(2)]
    from channels.testing import WebsocketCommunicator

    from config.asgi import application
    from tests.delivery.wsclient import token_for

    extra = WebsocketCommunicator(
        application, f"/ws/threads/{thread.id}/?token={await token_for(user)}"
    )
    await extra.connect(timeout=5)
    error = await extra.receive_json_from(timeout=5)
    closed = await extra.receive_output(timeout=5)

    assert error["code"] == "rate_limited"
    assert closed == {"type": "websocket.close", "code": 4429}
    for ws in kept:
        await ws.disconnect()


async def _events(ws, count):
    seen = 0
    while seen < count:
        frame = await ws.receive_json_from(timeout=5)
        seen += frame["type"] == "event"


async def _first_error(ws):
    while True:
        frame = await ws.receive_json_from(timeout=5)
        if frame["type"] == "error":
            return frame


def test_a_resend_of_a_posted_message_costs_no_budget(three_a_minute):
    thread = ThreadFactory()
    for i in range(3):
        services.post_message(thread=thread, text="hi", client_id=f"c{i}")

    event, created = services.post_message(thread=thread, text="hi", client_id="c2")

    assert created is False and event.payload["client_id"] == "c2"
