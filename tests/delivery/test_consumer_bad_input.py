"""Every bad frame gets an error frame or a documented close, and nobody else is touched."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from delivery import emit
from delivery.wire.protocol import MAX_SEQ
from tests.delivery.wsclient import connect, db, receive_events, send, token_for
from tests.factories import ThreadFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def _error_then_still_serving(ws, thread, frame_text, code):
    await ws.send_to(text_data=frame_text)
    reply = await ws.receive_json_from(timeout=3)
    assert reply["type"] == "error" and reply["code"] == code, reply
    # The connection survives and keeps delivering.
    event = await db(emit)(thread, "step", {})
    [frame] = await receive_events(ws, 1)
    assert frame["seq"] == event.seq


@pytest.mark.parametrize(
    "frame, code",
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "not_an_object"),
        ('"ack"', "not_an_object"),
        ("null", "not_an_object"),
        ('{"type": "subscribe"}', "unknown_type"),
        ('{"seq": 1}', "unknown_type"),
        ('{"type": "ack"}', "invalid_field"),
        ('{"type": "ack", "seq": "1"}', "invalid_field"),
        ('{"type": "ack", "seq": 1.5}', "invalid_field"),
        ('{"type": "ack", "seq": true}', "invalid_field"),
        ('{"type": "ack", "seq": -1}', "invalid_field"),
        (json.dumps({"type": "ack", "seq": MAX_SEQ + 1}), "invalid_field"),
        ('{"type": "resume", "after": -5}', "invalid_field"),
        ('{"type": "message", "text": "", "client_id": "x"}', "invalid_field"),
        ('{"type": "message", "text": "hi"}', "invalid_field"),
        (json.dumps({"type": "message", "text": "x" * 9000, "client_id": "c"}), "invalid_field"),
        ('{"type": "ack", "seq": 5}', "ack_beyond_sent"),
        ("[" * 5000 + "]" * 5000, "bad_json"),
    ],
)
async def test_bad_frame_gets_an_error_and_the_socket_lives(thread, user, frame, code):
    ws, _ = await connect(thread, user)
    await _error_then_still_serving(ws, thread, frame, code)
    await ws.disconnect()


async def test_binary_frame_gets_an_error(thread, user):
    ws, _ = await connect(thread, user)
    await ws.send_to(bytes_data=b"\x00\x01")
    reply = await ws.receive_json_from(timeout=3)
    assert reply["code"] == "binary_not_supported"
    await ws.disconnect()


async def test_oversize_frame_closes_with_4413(thread, user):
    ws, _ = await connect(thread, user)
    await ws.send_to(text_data=json.dumps({"type": "pong", "t": "x" * 70_000}))
    assert (await ws.receive_json_from(timeout=3))["code"] == "frame_too_large"
    assert (await ws.receive_output(timeout=3)) == {"type": "websocket.close", "code": 4413}
    await ws.disconnect()


async def test_flooding_closes_with_4429(thread, user, settings):
    settings.LEDGERLINE = {
        **settings.LEDGERLINE,
        "RATE_LIMIT_BURST": 20,
        "RATE_LIMIT_PER_SECOND": 1,
    }
    ws, _ = await connect(thread, user)
    for _ in range(25):
        await send(ws, {"type": "pong", "t": 0})
    output = []
    while not output or output[-1]["type"] != "websocket.close":
        output.append(await ws.receive_output(timeout=3))
    assert output[-1]["code"] == 4429
    assert json.loads(output[-2]["text"])["code"] == "rate_limited"
    await ws.disconnect()


async def _refused(path, headers=None):
    ws = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await ws.connect(timeout=5)
    if not connected:
        return None, None
    error = await ws.receive_json_from(timeout=3)
    close = await ws.receive_output(timeout=3)
    await ws.disconnect()
    return error, close["code"]


async def test_another_users_thread_is_closed_with_4403(thread, other_user):
    token = await token_for(other_user)
    error, code = await _refused(f"/ws/threads/{thread.id}/?token={token}")
    assert (error["code"], code) == ("forbidden", 4403)


async def test_unknown_thread_is_closed_with_4403(user):
    token = await token_for(user)
    _, code = await _refused(f"/ws/threads/6b1f5d1e-0000-4000-8000-000000000000/?token={token}")
    assert code == 4403


async def test_no_credentials_closes_with_4401(thread):
    origin = [(b"origin", b"http://127.0.0.1:8000")]
    error, code = await _refused(f"/ws/threads/{thread.id}/", headers=origin)
    assert (error["code"], code) == ("unauthenticated", 4401)


async def test_forged_token_closes_with_4401(thread):
    error, code = await _refused(f"/ws/threads/{thread.id}/?token=forged.token.value")
    assert code == 4401 and "invalid" in error["detail"]


async def test_bad_after_closes_with_4400(thread, user):
    token = await token_for(user)
    error, code = await _refused(f"/ws/threads/{thread.id}/?token={token}&after=abc")
    assert (error["code"], code) == ("invalid_field", 4400)


async def test_foreign_origin_is_rejected_at_handshake(thread, user):
    client = Client()
    await db(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"https://evil.example"), (b"cookie", cookie)]
    ws = WebsocketCommunicator(application, f"/ws/threads/{thread.id}/", headers=headers)
    connected, _ = await ws.connect(timeout=5)
    assert not connected
    await ws.disconnect()


async def test_session_cookie_from_allowed_origin_connects(thread, user):
    client = Client()
    await db(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie)]
    ws = WebsocketCommunicator(application, f"/ws/threads/{thread.id}/", headers=headers)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert (await ws.receive_json_from(timeout=3))["type"] == "hello"
    await ws.disconnect()


async def test_cookie_without_origin_is_refused(thread, user):
    client = Client()
    await db(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    ws = WebsocketCommunicator(
        application, f"/ws/threads/{thread.id}/", headers=[(b"cookie", cookie)]
    )
    connected, _ = await ws.connect(timeout=5)
    assert not connected
    await ws.disconnect()


async def test_hostile_client_does_not_touch_another_users_connection(thread, user, other_user):
    other_thread = await db(ThreadFactory)(owner=other_user)
    bystander, _ = await connect(other_thread, other_user)
    attacker, _ = await connect(thread, user)
    for frame in ["{bad", '{"type": "ack", "seq": 99}', json.dumps({"type": "x" * 10_000})]:
        await attacker.send_to(text_data=frame)
    await send(attacker, {"type": "resume", "after": 0})
    event = await db(emit)(other_thread, "agent_completed", {"answer": 84})
    [frame] = await receive_events(bystander, 1)
    assert frame["id"] == str(event.event_id)
    assert await bystander.receive_nothing(timeout=0.3)
    await attacker.disconnect()
    await bystander.disconnect()


def test_a_wildcard_origin_setting_is_not_honoured(settings):
    from delivery.wire.auth import OriginCheckedStack

    settings.WS_ALLOWED_ORIGINS = ["*", "chat.example.com"]
    assert OriginCheckedStack(None).allowed_origins == ["chat.example.com"]
