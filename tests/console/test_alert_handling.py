"""Operators acknowledge and resolve alerts with an optional note; the page and the API show
who did, and the webhook hears of the resolution."""

import json

import pytest

from monitoring import webhook
from monitoring.alerts import raise_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def posted(settings, monkeypatch):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    bodies: list[dict] = []
    monkeypatch.setattr(webhook, "send_in_background", lambda body: bodies.append(json.loads(body)))
    return bodies


@pytest.fixture
def lost(troubled_thread):
    return raise_alert(
        kind="undelivered",
        thread_id=troubled_thread.pk,
        summary="2 event(s) undelivered (seq 4..5): no ack",
        context={"first": 4, "last": 5},
    )


def test_operators_acknowledge_and_resolve_with_a_note(admin, posted, lost):
    page = admin.post(
        f"/console/alerts/{lost.pk}/acknowledge",
        {"note": "looking at it"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "acknowledged by <b>admin-staff</b>" in page and "looking at it" in page
    admin.post(f"/console/alerts/{lost.pk}/resolve", {"note": "user reinstalled the app"})
    lost.refresh_from_db()
    assert (lost.acknowledged_by, lost.acknowledge_note) == ("admin-staff", "looking at it")
    assert (lost.resolved_by, lost.resolve_note) == ("admin-staff", "user reinstalled the app")
    assert posted[-1]["resolved_by"] == "admin-staff"
    listed = admin.get("/console/alerts/").content.decode()
    assert "resolved" in listed and "user reinstalled the app" in listed


def test_the_api_takes_the_note_too(admin, lost):
    answer = admin.post(
        f"/console/api/alerts/{lost.pk}/resolve",
        json.dumps({"note": "SUP-8"}),
        content_type="application/json",
    ).json()
    assert (answer["state"], answer["resolved_by"], answer["resolve_note"]) == (
        "resolved",
        "admin-staff",
        "SUP-8",
    )
