"""Idempotency-Key on the publish API: a retry answers the first call's events, the same key
with other events is 409 and emits nothing, and a key the ledger cannot keep is 400."""

import pytest

from delivery.models import Event, Publication
from tests.delivery.http import post
from tests.factories import ThreadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_idempotency_key_makes_a_retry_answer_the_same_events(client, thread, publisher_key):
    url = f"/api/v1/threads/{thread.id}/events"
    body = {"type": "invoice_paid", "payload": {}}

    first = post(client, url, body, HTTP_IDEMPOTENCY_KEY="inv-7", **publisher_key)
    again = post(client, url, body, HTTP_IDEMPOTENCY_KEY="inv-7", **publisher_key)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["events"] == again.json()["events"]
    assert Event.objects.filter(thread=thread).count() == 1
    assert Publication.objects.count() == 1


PAID = {"type": "invoice_paid", "payload": {"amount": 12}}


@pytest.mark.parametrize(
    ("path", "body", "elsewhere"),
    [
        ("events", {**PAID, "payload": {"amount": 13}}, False),
        ("events", {**PAID, "type": "invoice_void"}, False),
        ("events", {**PAID, "critical": False}, False),
        ("events/batch", {"events": [PAID, PAID]}, False),
        ("events", PAID, True),
    ],
    ids=["payload", "type", "critical", "count", "thread"],
)
def test_an_idempotency_key_reused_for_other_events_is_409_and_emits_nothing(
    client, thread, user, publisher_key, path, body, elsewhere
):
    first = post(client, f"/api/v1/threads/{thread.id}/events", PAID,
                 HTTP_IDEMPOTENCY_KEY="inv-7", **publisher_key)  # fmt: skip
    target = ThreadFactory(owner=user) if elsewhere else thread

    again = post(client, f"/api/v1/threads/{target.id}/{path}", body,
                 HTTP_IDEMPOTENCY_KEY="inv-7", **publisher_key)  # fmt: skip

    assert first.status_code == 201
    assert again.status_code == 409, again.content
    assert again.json()["error"] == "idempotency_conflict" and "inv-7" in again.json()["detail"]
    assert Event.objects.count() == 1 and Publication.objects.count() == 1


@pytest.mark.parametrize("key", ["k" * 201, "bad\x00key"])
def test_an_idempotency_key_too_long_or_unstorable_is_400(client, thread, publisher_key, key):
    response = post(client, f"/api/v1/threads/{thread.id}/events", PAID,
                    HTTP_IDEMPOTENCY_KEY=key, **publisher_key)  # fmt: skip

    assert response.status_code == 400 and response.json()["error"] in {
        "invalid_event",
        "invalid_field",
    }
    assert not Event.objects.exists()
