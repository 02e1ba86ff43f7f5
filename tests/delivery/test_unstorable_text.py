"""NUL bytes and lone surrogates, the text PostgreSQL cannot store, on every way text comes in:
a clear `invalid_field` (or 400), never a 500, never the database's words, nothing written."""

import json

import pytest

from delivery import emit
from delivery.exceptions import InvalidEvent
from delivery.models import Event, Thread
from delivery.wire.tokens import issue_token
from tests.delivery.wsclient import connect, db, receive_events

pytestmark = pytest.mark.django_db(transaction=True)

# As a client sends them: JSON escapes, so the frame itself is valid UTF-8.
NUL = "hello\\u0000world"
SURROGATE = "half a pair: \\ud800"
HOSTILE = [NUL, SURROGATE]


@pytest.fixture
def bearer(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_token(user=user)}"}


def _unstorable_reply(body: str) -> bool:
    return "unpaired surrogate" in body and "psycopg" not in body and "PostgreSQL" not in body


@pytest.mark.parametrize("text", HOSTILE)
async def test_a_message_frame_is_refused_and_the_socket_lives(thread, user, text):
    ws, _ = await connect(thread, user)
    await ws.send_to(text_data=f'{{"type": "message", "text": "{text}", "client_id": "c-1"}}')

    reply = await ws.receive_json_from(timeout=3)

    assert (reply["type"], reply["code"]) == ("error", "invalid_field")
    assert _unstorable_reply(reply["detail"])
    event = await db(emit)(thread, "step", {})
    assert (await receive_events(ws, 1))[0]["seq"] == event.seq
    await ws.disconnect()


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("field", ["text", "client_id"])
def test_an_http_message_is_refused_with_400(client, bearer, thread, text, field):
    body = {"text": "hi", "client_id": "c-1"}
    raw = json.dumps(body).replace(f'"{body[field]}"', f'"{text}"')

    response = client.post(
        f"/api/threads/{thread.id}/messages", raw, content_type="application/json", **bearer
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_field"
    assert _unstorable_reply(response.json()["detail"])
    assert not Event.objects.filter(thread=thread).exists()


@pytest.mark.parametrize("text", HOSTILE)
def test_an_http_title_is_refused_with_400(client, bearer, user, text):
    raw = f'{{"title": "{text}"}}'

    response = client.post("/api/threads", raw, content_type="application/json", **bearer)

    assert response.status_code == 400 and response.json()["error"] == "invalid_field"
    assert not Thread.objects.filter(owner=user).exists()


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800b"])
@pytest.mark.parametrize("where", ["value", "key", "nested"])
def test_emit_refuses_an_unstorable_payload(thread, value, where):
    payload = {
        "value": {"text": value},
        "key": {value: 1},
        "nested": {"items": [{"deep": [value]}]},
    }[where]

    with pytest.raises(InvalidEvent, match="unpaired surrogate"):
        emit(thread, "tool_completed", payload)
    assert thread.events.count() == 0


def test_emoji_and_escaped_backslashes_are_stored(thread):
    """Valid pairs and a literal backslash-u text are not mistaken for the unstorable."""
    payload = {"text": "\U0001f600 and a literal \\u0000 typed by hand"}

    event = emit(thread, "user_message", payload)

    assert Event.objects.get(pk=event.pk).payload == payload


def test_the_no_script_composer_and_thread_form_refuse_it(user, thread):
    from django.test import Client

    client = Client()
    client.force_login(thread.owner)

    message = client.post(f"/threads/{thread.id}/messages", {"text": "a\x00b", "client_id": "c"})
    new = client.post("/threads/new", {"title": "a\x00b"})

    assert message.status_code == 400 and "unpaired surrogate" in message.content.decode()
    assert new.status_code == 400
