"""Another user's thread cannot be opened, read or posted to: page, HTTP API or WebSocket."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from delivery.models import Event
from tests.delivery.wsclient import connect


@pytest.fixture
def intruder(other_user):
    client = Client()
    client.force_login(other_user)
    return client


@pytest.mark.django_db
def test_another_users_thread_page_is_not_found(intruder, thread):
    response = intruder.get(reverse("chat:thread", kwargs={"thread_id": thread.id}))
    assert response.status_code == 404


@pytest.mark.django_db
def test_another_users_thread_cannot_be_posted_to_from_the_page(intruder, thread):
    url = reverse("chat:post_message", kwargs={"thread_id": thread.id})
    assert intruder.post(url, {"text": "hi", "client_id": "x"}).status_code == 404
    assert not Event.objects.filter(thread=thread).exists()


# transaction=True: the events view is async and reads the ledger from another thread.
@pytest.mark.django_db(transaction=True)
def test_another_users_thread_cannot_be_read_or_posted_over_http(intruder, thread):
    read = intruder.get(f"/api/threads/{thread.id}/events?after=0")
    post = intruder.post(
        f"/api/threads/{thread.id}/messages",
        json.dumps({"text": "hi", "client_id": "x"}),
        content_type="application/json",
    )
    assert (read.status_code, post.status_code) == (404, 404)
    assert not Event.objects.filter(thread=thread).exists()


@pytest.mark.django_db(transaction=True)
async def test_another_users_thread_refuses_the_websocket(thread, other_user):
    communicator, first = await connect(thread, other_user)
    try:
        assert first == {"type": "error", "code": "forbidden", "detail": "not your thread"}
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4403}
    finally:
        await communicator.disconnect()
