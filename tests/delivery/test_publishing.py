"""Producers publish over HTTP with an API key: seqs answered, retries idempotent, every
publication attributed to its key, the same error shape as the rest of the API."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery.models import ApiKey, Event, Publication
from delivery.wire.apikeys import create_api_key, revoke_api_key
from delivery.wire.tokens import issue_token
from tests.delivery.http import post

pytestmark = pytest.mark.django_db(transaction=True)


def test_publish_one_event_answers_its_seq(client, thread, publisher_key):
    response = post(
        client, f"/api/v1/threads/{thread.id}/events",
        {"type": "invoice_paid", "payload": {"amount": 12}}, **publisher_key,
    )  # fmt: skip

    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True and [e["seq"] for e in body["events"]] == [1]
    assert Event.objects.get(thread=thread).payload == {"amount": 12}


def test_a_batch_is_one_publication_with_contiguous_seqs(client, thread, publisher_key):
    events = [{"type": "step", "payload": {"n": n}} for n in range(3)]

    response = post(client, f"/api/v1/threads/{thread.id}/events/batch", {"events": events},
                    **publisher_key)  # fmt: skip

    assert [e["seq"] for e in response.json()["events"]] == [1, 2, 3]
    publication = Publication.objects.get()
    assert (publication.first_seq, publication.last_seq) == (1, 3)
    assert publication.api_key.name == "billing-service"


def test_a_batch_keeps_each_events_critical_flag(client, thread, publisher_key):
    events = [
        {"type": "step", "critical": False},
        {"type": "answer"},
        {"type": "step", "critical": False},
    ]

    post(client, f"/api/v1/threads/{thread.id}/events/batch", {"events": events}, **publisher_key)

    stored = Event.objects.filter(thread=thread).order_by("seq")
    assert [(e.type, e.critical) for e in stored] == [
        ("step", False),
        ("answer", True),
        ("step", False),
    ]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"type": "Not Valid"}, 400, "invalid_event"),
        ({"payload": {}}, 400, "invalid_field"),
        ({"type": "step", "payload": [1]}, 400, "invalid_field"),
        ('{"type": "step", "payload": {"t": "nul \\u0000"}}', 400, "invalid_field"),
        ("{not json", 400, "bad_json"),
        ("[1, 2]", 400, "not_an_object"),
    ],
)
def test_bad_bodies_get_the_api_error_shape(client, thread, publisher_key, body, status, error):
    response = post(client, f"/api/v1/threads/{thread.id}/events", body, **publisher_key)

    assert response.status_code == status, response.content
    assert response.json()["error"] == error and response.json()["detail"]
    assert not Event.objects.exists()


def test_an_unknown_thread_is_404(client, publisher_key):
    url = "/api/v1/threads/00000000-0000-0000-0000-000000000000/events"
    response = post(client, url, {"type": "step"}, **publisher_key)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


@pytest.mark.parametrize("credential", ["none", "revoked", "read_only", "user_token", "garbage"])
def test_publishing_needs_a_live_publish_key(client, thread, user, credential):
    record, key = create_api_key(
        name="k", scopes=["read"] if credential == "read_only" else ["publish"]
    )
    if credential == "revoked":
        revoke_api_key(key_id=record.pk)
    header = {
        "none": {}, "garbage": {"HTTP_AUTHORIZATION": "Bearer llk_forged"},
        "user_token": {"HTTP_AUTHORIZATION": f"Bearer {issue_token(user=user)}"},
    }.get(credential, {"HTTP_AUTHORIZATION": f"Bearer {key}"})  # fmt: skip

    response = post(client, f"/api/v1/threads/{thread.id}/events", {"type": "step"}, **header)

    assert response.status_code == 401
    assert response.json()["error"] in ("unauthenticated", "invalid_token")
    assert not Event.objects.exists()


def test_a_key_over_its_rate_gets_429_with_retry_after(client, thread):
    _, key = create_api_key(name="chatty", scopes=["publish"], per_minute=2)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    url = f"/api/v1/threads/{thread.id}/events"

    codes = [post(client, url, {"type": "step"}, **auth).status_code for _ in range(3)]
    refused = post(client, url, {"type": "step"}, **auth)

    assert codes == [201, 201, 429]
    assert refused["Retry-After"] and refused.json()["error"] == "rate_limited"


def test_only_the_keys_hash_is_stored(thread):
    record, key = create_api_key(name="stored", scopes=["publish"])
    assert key not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert key.startswith(record.prefix)


def test_create_api_key_prints_the_key_once_on_its_last_line(capsys, client, thread):
    call_command("create_api_key", "search-indexer", "--scope", "publish")
    key = capsys.readouterr().out.strip().splitlines()[-1]

    response = post(client, f"/api/v1/threads/{thread.id}/events", {"type": "step"},
                    HTTP_AUTHORIZATION=f"Bearer {key}")  # fmt: skip
    assert response.status_code == 201


def test_create_api_key_refuses_a_taken_name():
    call_command("create_api_key", "twice", "--scope", "read")
    with pytest.raises(CommandError, match="exists"):
        call_command("create_api_key", "twice", "--scope", "read")


def test_presence_lists_live_connections_to_the_owner_and_a_read_key(client, thread, user):
    from delivery.ledger.progress import open_connection

    open_connection(thread_id=thread.id, user_id=user.pk, resumed_from=0)
    _, reader = create_api_key(name="reader", scopes=["read"])
    url = f"/api/threads/{thread.id}/presence"

    by_owner = client.get(url, HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user)}")
    by_key = client.get(url, HTTP_AUTHORIZATION=f"Bearer {reader}")

    assert by_owner.status_code == by_key.status_code == 200
    [live] = by_owner.json()
    assert live["transport"] == "websocket" and live["since"] and live["last_pong"]


def test_a_read_key_pages_any_threads_history_and_nothing_more(client, thread, publisher_key):
    steps = [{"type": "step", "payload": {"n": n}} for n in range(5)]
    post(client, f"/api/v1/threads/{thread.id}/events/batch", {"events": steps}, **publisher_key)
    _, reader = create_api_key(name="reader", scopes=["read"])
    as_reader = {"HTTP_AUTHORIZATION": f"Bearer {reader}"}
    url = f"/api/threads/{thread.id}/events"

    page = client.get(f"{url}?before=6&limit=3", **as_reader)

    assert page.status_code == 200
    assert [e["seq"] for e in page.json()["events"]] == [5, 4, 3]
    following = client.get(f"{url}?after=0", **as_reader)  # delivery is the owner's
    assert following.status_code == 400 and "before" in following.json()["detail"]
    assert client.get(f"{url}?before=6", **publisher_key).status_code == 401  # no read scope
    unknown = "/api/threads/00000000-0000-0000-0000-000000000000/events?before=1"
    assert client.get(unknown, **as_reader).status_code == 404
    assert client.post(f"/api/threads/{thread.id}/messages", {"text": "hi", "client_id": "k"},
                       content_type="application/json", **as_reader).status_code == 401  # fmt: skip


def test_presence_of_another_users_thread_is_404(client, thread, other_user):
    response = client.get(f"/api/threads/{thread.id}/presence",
                          HTTP_AUTHORIZATION=f"Bearer {issue_token(user=other_user)}")  # fmt: skip
    assert response.status_code == 404


def test_the_schema_describes_every_endpoint_and_the_docs_are_served(client):
    paths = client.get("/api/schema/").json()["paths"]

    assert set(paths) >= {
        "/api/threads",
        "/api/threads/{thread_id}/events",
        "/api/threads/{thread_id}/ack",
        "/api/threads/{thread_id}/messages",
        "/api/threads/{thread_id}/presence",
        "/api/v1/threads/{thread_id}/events",
        "/api/v1/threads/{thread_id}/events/batch",
    }
    assert set(paths["/api/threads"]) == {"get", "post"}
    assert "requestBody" in paths["/api/threads/{thread_id}/messages"]["post"]
    assert client.get("/api/docs/").status_code == 200


async def test_presence_frames_reach_only_the_sockets_that_asked(thread, user):
    from tests.delivery.wsclient import connect, token_for

    plain, _ = await connect(thread, user)
    watcher, _ = await connect(thread, user, token=f"{await token_for(user)}&presence=1")
    other, _ = await connect(thread, user)

    joined = await watcher.receive_json_from(timeout=5)
    await other.disconnect()
    left = await watcher.receive_json_from(timeout=5)

    assert (joined["type"], joined["event"], joined["transport"]) == (
        "presence",
        "join",
        "websocket",
    )
    assert (left["event"], left["connection"]) == ("leave", joined["connection"])
    assert await plain.receive_nothing(timeout=0.3)
    for ws in (plain, watcher):
        await ws.disconnect()


def test_a_body_over_the_limit_is_413(client, thread, publisher_key):
    body = {"events": [{"type": "step", "payload": {"blob": "x" * 200_000}}] * 6}

    response = post(client, f"/api/v1/threads/{thread.id}/events/batch", body, **publisher_key)

    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")
