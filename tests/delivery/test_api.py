import threading
import time

import pytest
from django.db import connection
from django.test import Client

from delivery import emit
from delivery.ledger.selectors import EventState
from delivery.models import Connection, DeliveryAttempt, Event, Thread
from delivery.wire.tokens import issue_token
from tests.delivery.http import post
from tests.ledger import states

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bearer(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_token(user=user)}"}


def test_create_thread_with_a_token(client, bearer, user):
    response = post(client, "/api/threads", {"title": "help"}, **bearer)
    assert response.status_code == 201
    assert Thread.objects.get(pk=response.json()["id"]).owner == user


def test_list_threads_shows_only_mine(client, bearer, thread, other_user):
    Thread.objects.create(owner=other_user)
    response = client.get("/api/threads", **bearer)
    assert [t["id"] for t in response.json()["threads"]] == [str(thread.id)]


def test_events_after_n(client, bearer, thread):
    for i in range(4):
        emit(thread, "step", {"i": i})
    page = client.get(f"/api/threads/{thread.id}/events?after=2", **bearer).json()
    assert [e["seq"] for e in page["events"]] == [3, 4]
    assert page["last_seq"] == 4


def test_long_poll_wakes_when_an_event_is_emitted(client, bearer, thread):
    def later():
        time.sleep(0.4)
        emit(thread, "agent_completed", {"answer": 84})
        connection.close()

    threading.Thread(target=later).start()
    started = time.monotonic()
    page = client.get(f"/api/threads/{thread.id}/events?after=0&wait=2", **bearer).json()
    assert [e["event"] for e in page["events"]] == ["agent_completed"]
    assert time.monotonic() - started < 1.9


def test_long_poll_returns_empty_after_the_wait(client, bearer, thread):
    page = client.get(f"/api/threads/{thread.id}/events?after=0&wait=1", **bearer).json()
    assert page["events"] == []


def test_ack_moves_the_acked_watermark(client, bearer, thread):
    for _ in range(3):
        emit(thread, "step", {})
    client.get(f"/api/threads/{thread.id}/events?after=0", **bearer)
    response = post(client, f"/api/threads/{thread.id}/ack", {"seq": 2}, **bearer)
    assert response.json() == {"acked": 2}
    assert states(thread) == {1: EventState.ACKED, 2: EventState.ACKED, 3: EventState.SENT}


def test_ack_beyond_what_was_sent_is_refused_over_http(client, bearer, thread):
    """Events that exist but were never sent to this user cannot be acked into `acked`."""
    for _ in range(5):
        emit(thread, "step", {})
    response = post(client, f"/api/threads/{thread.id}/ack", {"seq": 5}, **bearer)
    assert (response.status_code, response.json()["error"]) == (400, "ack_beyond_sent")
    client.get(f"/api/threads/{thread.id}/events?after=0&limit=2", **bearer)
    response = post(client, f"/api/threads/{thread.id}/ack", {"seq": 3}, **bearer)
    assert (response.status_code, response.json()["error"]) == (400, "ack_beyond_sent")
    assert post(client, f"/api/threads/{thread.id}/ack", {"seq": 2}, **bearer).status_code == 200
    assert set(states(thread).values()) == {EventState.ACKED, EventState.COMMITTED}
    thread.refresh_from_db()
    assert thread.acked_seq == 2


def test_a_long_poll_is_a_connection_with_its_sends_on_record(client, bearer, thread):
    for _ in range(3):
        emit(thread, "step", {})
    client.get(f"/api/threads/{thread.id}/events?after=0&limit=2", **bearer)
    client.get(f"/api/threads/{thread.id}/events?after=2", **bearer)
    [session] = Connection.objects.filter(thread=thread)
    assert (session.transport, session.state, session.sent_seq) == ("longpoll", "live", 3)
    sends = DeliveryAttempt.objects.filter(thread=thread).order_by("first_seq")
    assert [(a.trigger, a.first_seq, a.last_seq, a.connection_id) for a in sends] == [
        ("poll", 1, 2, session.pk),
        ("poll", 3, 3, session.pk),
    ]


def test_message_is_idempotent_on_client_id(client, bearer, thread):
    body = {"text": "what is 12*7", "client_id": "abc"}
    first = post(client, f"/api/threads/{thread.id}/messages", body, **bearer)
    again = post(client, f"/api/threads/{thread.id}/messages", body, **bearer)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["event"]["id"] == again.json()["event"]["id"]
    assert Event.objects.filter(thread=thread).count() == 1


def test_session_post_needs_csrf(user, thread):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post(client, f"/api/threads/{thread.id}/messages", {"text": "x", "client_id": "1"})
    assert response.status_code == 403 and response.json()["error"] == "csrf_failed"
    client.get("/accounts/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    ok = post(
        client,
        f"/api/threads/{thread.id}/messages",
        {"text": "x", "client_id": "1"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 201


def test_session_get_works_without_token(user, thread):
    client = Client()
    client.force_login(user)
    assert client.get(f"/api/threads/{thread.id}/events").status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/threads"),
        ("get", "/api/threads/{id}/events"),
        ("post", "/api/threads/{id}/ack"),
        ("post", "/api/threads/{id}/messages"),
    ],
)
def test_anonymous_requests_get_401(client, thread, method, path):
    response = getattr(client, method)(path.format(id=thread.id))
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"


def test_bad_bearer_gets_401(client, thread):
    response = client.get("/api/threads", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_another_users_thread_is_404(client, thread, other_user):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(user=other_user)}"}
    assert client.get(f"/api/threads/{thread.id}/events", **headers).status_code == 404
    response = post(client, f"/api/threads/{thread.id}/ack", {"seq": 0}, **headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path, body, status, error",
    [
        ("ack", "{not json", 400, "bad_json"),
        ("ack", "[1]", 400, "not_an_object"),
        ("ack", {"seq": "x"}, 400, "invalid_field"),
        ("ack", {"seq": -1}, 400, "invalid_field"),
        ("ack", {"seq": 1.5}, 400, "invalid_field"),
        ("ack", {"seq": 99}, 400, "ack_beyond_sent"),
        ("messages", {"text": "", "client_id": "a"}, 400, "invalid_field"),
        ("messages", {"text": "hi"}, 400, "invalid_field"),
        ("messages", {"text": "x" * 70_000, "client_id": "a"}, 413, "body_too_large"),
    ],
)
def test_bad_bodies_get_json_errors(client, bearer, thread, path, body, status, error):
    response = post(client, f"/api/threads/{thread.id}/{path}", body, **bearer)
    assert (response.status_code, response.json()["error"]) == (status, error)


def test_bad_query_gets_400(client, bearer, thread):
    response = client.get(f"/api/threads/{thread.id}/events?after=-3", **bearer)
    assert response.status_code == 400 and response.json()["error"] == "invalid_field"


def test_wrong_method_is_405(client, bearer, thread):
    assert client.get(f"/api/threads/{thread.id}/ack", **bearer).status_code == 405


def test_string_seq_in_a_json_body_is_refused(client, bearer, thread):
    emit(thread, "step", {})
    response = post(client, f"/api/threads/{thread.id}/ack", {"seq": "1"}, **bearer)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")


def test_non_numeric_content_length_is_400(client, bearer, thread):
    response = client.post(
        f"/api/threads/{thread.id}/ack",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH="abc",
        **bearer,
    )
    assert response.status_code == 400


def test_purged_history_gets_a_resync_over_http(client, bearer, thread):
    for _ in range(3):
        emit(thread, "step", {})
    Event.objects.filter(thread=thread).delete()
    page = client.get(f"/api/threads/{thread.id}/events?after=1", **bearer).json()
    assert page["resync"] == {"from": 1, "to": 3, "reason": "retention"}


def history(client, bearer, thread, query):
    return client.get(f"/api/threads/{thread.id}/events?{query}", **bearer)


def test_history_pages_back_newest_first_by_keyset(client, bearer, thread):
    for i in range(7):
        emit(thread, "step", {"i": i})
    seqs, before = [], 8
    while True:
        page = history(client, bearer, thread, f"before={before}&limit=3").json()
        if not page["events"]:
            break
        seqs.append([e["seq"] for e in page["events"]])
        assert (page["last_seq"], page["first_retained"]) == (7, 1)
        before = page["events"][-1]["seq"]
    assert seqs == [[7, 6, 5], [4, 3, 2], [1]]
    frame = history(client, bearer, thread, "before=2").json()["events"][0]
    assert (frame["type"], frame["event"], frame["payload"]) == ("event", "step", {"i": 0})


def test_history_is_a_read_that_records_no_send(client, bearer, thread):
    for _ in range(3):
        emit(thread, "step", {})
    assert len(history(client, bearer, thread, "before=4").json()["events"]) == 3
    assert not Connection.objects.filter(thread=thread).exists()
    assert not DeliveryAttempt.objects.filter(thread=thread).exists()


def test_history_says_where_the_retained_ledger_starts(client, bearer, thread):
    for _ in range(4):
        emit(thread, "step", {})
    Event.objects.filter(thread=thread, seq__lte=2).delete()  # as retention drops a prefix
    page = history(client, bearer, thread, "before=5").json()
    assert [e["seq"] for e in page["events"]] == [4, 3]
    assert page["first_retained"] == 3


@pytest.mark.parametrize("query", ["before=-1", "before=x", "before=3&after=1", "before=3&wait=1"])
def test_a_bad_history_query_gets_400(client, bearer, thread, query):
    response = history(client, bearer, thread, query)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")


def test_another_users_history_is_404(client, thread, other_user):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(user=other_user)}"}
    emit(thread, "step", {})
    response = client.get(f"/api/threads/{thread.id}/events?before=9", **headers)
    assert response.status_code == 404
