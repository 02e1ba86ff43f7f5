"""NUL bytes and lone surrogates in the console: a clear 400, never a 500 or a database message."""

import json

import pytest

from console.models import ContentReveal
from delivery.models import Event, ReplayRequest
from monitoring.alerts import raise_alert
from tests.console.conftest import staff

pytestmark = pytest.mark.django_db

HOSTILE = ["\x00", "refund\x00", "a\ud800b"]


@pytest.mark.parametrize("q", HOSTILE[:2])  # a URL cannot carry a lone surrogate: see below
@pytest.mark.parametrize("path", ["/console/threads/", "/console/api/threads"])
def test_search_refuses_it(support, path, q):
    response = support.get(path, {"q": q})

    assert response.status_code == 400
    assert "unpaired surrogate" in response.content.decode()
    if path.startswith("/console/api/"):
        assert response.json()["error"] == "invalid_field"


def test_search_refuses_a_percent_encoded_nul(support):
    response = support.get("/console/threads/?q=%00")

    assert response.status_code == 400


def test_a_surrogate_encoded_in_the_url_is_no_server_error(support):
    """UTF-8 has no surrogates: the bytes of one decode to replacement characters."""
    assert support.get("/console/threads/?q=%ED%A0%80").status_code == 200


@pytest.mark.parametrize("reason", HOSTILE[1:])
def test_a_replay_reason_with_it_is_refused(admin, troubled_thread, reason):
    body = {"scope": "thread", "thread": str(troubled_thread.id), "reason": reason}

    response = admin.post("/console/api/replays", json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_field"
    assert "unpaired surrogate" in response.json()["detail"]
    assert not ReplayRequest.objects.exists()


@pytest.mark.parametrize("reason", HOSTILE[1:])
def test_a_reveal_reason_with_it_is_refused_and_nothing_is_shown(client, troubled_thread, reason):
    client.force_login(staff("senior-support", "support", extra=("reveal_content",)))
    event = Event.objects.filter(thread=troubled_thread).first()

    api = client.post(f"/console/api/events/{event.event_id}/reveal",
                      json.dumps({"reason": reason}), content_type="application/json")  # fmt: skip

    assert (api.status_code, api.json()["error"]) == (400, "invalid_field")
    assert "card 4242" not in api.content.decode()
    if "\x00" in reason:  # a form cannot carry a lone surrogate: it is not UTF-8
        page = client.post(f"/console/events/{event.event_id}/reveal", {"reason": reason})
        assert page.status_code == 400 and "card 4242" not in page.content.decode()
    assert not ContentReveal.objects.exists()


@pytest.mark.parametrize("note", HOSTILE[1:])
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_an_alert_note_with_it_is_refused_and_the_alert_is_unchanged(admin, troubled_thread,
                                                                      action, note):  # fmt: skip
    alert = raise_alert(kind="undelivered", thread_id=troubled_thread.pk, summary="lost")

    api = admin.post(f"/console/api/alerts/{alert.pk}/{action}",
                     json.dumps({"note": note}), content_type="application/json")  # fmt: skip

    assert (api.status_code, api.json()["error"]) == (400, "invalid_field")
    if "\x00" in note:
        assert admin.post(f"/console/alerts/{alert.pk}/{action}", {"note": note}).status_code == 400
    alert.refresh_from_db()
    assert alert.state == "open" and not alert.acknowledged_by and not alert.resolved_by
