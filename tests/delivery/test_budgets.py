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


@pytest.mark.process
def test_waiting_long_polls_are_capped_per_user_and_give_their_place_back(user, tmp_path):
    """A client cannot hold a daphne's requests open without bound: SOCKETS_PER_USER waiting
    polls at once; the next is 429 with Retry-After, another user is untouched, and a place is
    free again once a poll returns. Against a real daphne, where the polls really overlap."""
    import time
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import cache

    from tests.processes import free_port, start_daphne, stop

    port = free_port()
    web = start_daphne(port, tmp_path / "web.log", LEDGERLINE_SOCKETS_PER_USER="2")
    other = UserFactory()
    mine, theirs = [ThreadFactory(owner=user) for _ in range(3)], ThreadFactory(owner=other)
    tokens = {user.pk: issue_token(user=user), other.pk: issue_token(user=other)}

    def poll(thread, wait=2):  # the test settings' LONG_POLL_SECONDS
        url = f"http://127.0.0.1:{port}/api/threads/{thread.id}/events?after=0&wait={wait}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {tokens[thread.owner_id]}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                return answer.status, dict(answer.headers), json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read())

    def holding() -> int:  # the daphne counts in the same Redis, under the same prefix
        return cache.get(f"held:waiting_long_polls:user:{user.pk}", 0)

    try:
        poll(mine[0], wait=0)  # a first request warms the daphne up
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(poll, thread) for thread in mine[:2]]
            deadline = time.monotonic() + 1.5
            while holding() < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            seen = holding()
            refused = poll(mine[2])
            untouched = poll(theirs, wait=1)
            quick = poll(mine[2], wait=0)  # a poll that does not wait holds no place
            done = [future.result() for future in waiting]
        again = poll(mine[2], wait=1)  # the places came back
        left = holding()
    finally:
        stop(web)
    assert seen == 2  # two polls were waiting when the third came
    assert refused[0] == 429 and refused[2]["error"] == "rate_limited", refused
    assert refused[1]["Retry-After"] == "1"
    assert (untouched[0], quick[0], again[0]) == (200, 200, 200)
    assert [status for status, _, _ in done] == [200, 200] and left == 0
