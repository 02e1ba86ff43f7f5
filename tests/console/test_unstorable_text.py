"""NUL bytes and lone surrogates in the console: a clear 400, never a 500 or a database message."""

import json

import pytest

from delivery.models import ReplayRequest

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
