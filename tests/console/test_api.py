"""The JSON API: each console button's twin, with the same permission checks."""

import json

import pytest

from console.models import ContentReveal
from delivery.models import Event, ReplayRequest
from monitoring.models import Alert, VerificationRun

pytestmark = pytest.mark.django_db


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_dry_run_lists_exactly_the_events_and_who_is_online(admin, troubled_thread):
    body = {"scope": "thread", "thread": str(troubled_thread.pk)}
    plan = post(admin, "/console/api/replays/dry-run", body).json()
    assert (plan["events"], plan["threads"], plan["online_threads"]) == (2, 1, 0)
    assert [i["seq"] for i in plan["items"]] == [4, 5]
    assert not ReplayRequest.objects.exists()  # a dry run changes nothing


def test_replay_without_a_reason_is_refused(admin, troubled_thread):
    body = {"scope": "thread", "thread": str(troubled_thread.pk)}
    response = post(admin, "/console/api/replays", body)
    assert response.status_code == 400 and response.json()["error"] == "replay_error"


def test_replay_is_accepted_audited_and_cancellable(admin, troubled_thread):
    body = {"scope": "thread", "thread": str(troubled_thread.pk), "reason": "SUP-9", "ticket": "9"}
    job = post(admin, "/console/api/replays", body)
    assert job.status_code == 202
    data = job.json()
    assert (data["actor"], data["planned_events"], data["state"]) == ("admin-staff", 2, "queued")
    status = admin.get(f"/console/api/replays/{data['id']}").json()
    assert [o["seq"] for o in status["outcomes"]] == [4, 5]
    cancelled = post(admin, f"/console/api/replays/{data['id']}/cancel").json()
    assert cancelled["state"] == "cancelling"


def test_bulk_dry_run_follows_the_search_filter(admin, troubled_thread):
    plan = post(admin, "/console/api/replays/dry-run", {"scope": "filter", "health": "failing"})
    assert plan.json()["threads"] == 1
    empty = post(admin, "/console/api/replays/dry-run", {"scope": "filter"})
    assert empty.status_code == 400


def test_alert_acknowledge_then_resolve(admin, troubled_thread):
    alert = Alert.objects.create(
        kind="undelivered",
        subject=str(troubled_thread.pk),
        thread=troubled_thread,
        summary="2 undelivered",
    )
    assert post(admin, f"/console/api/alerts/{alert.pk}/acknowledge").json()["state"] == (
        "acknowledged"
    )
    assert post(admin, f"/console/api/alerts/{alert.pk}/resolve").json()["state"] == "resolved"


def test_alert_buttons_swap_their_row(admin, troubled_thread):
    alert = Alert.objects.create(kind="stalled_run", summary="stuck", thread=troubled_thread)
    response = admin.post(f"/console/alerts/{alert.pk}/acknowledge", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="alert-{alert.pk}"') and "acknowledged" in html


def test_verification_api_queues_a_run(admin):
    response = post(admin, "/console/api/verification")
    assert response.status_code == 202
    run = VerificationRun.objects.get()
    assert run.trigger == "console" and response.json()["finished"] is False


def test_reveal_api_is_audited(client, troubled_thread):
    from tests.console.conftest import staff

    client.force_login(staff("lead", "admin", extra=("reveal_content",)))
    event = Event.objects.filter(thread=troubled_thread).first()
    url = f"/console/api/events/{event.event_id}/reveal"
    assert post(client, url).json()["error"] == "reveal_error"
    data = post(client, url, {"reason": "SUP-9"}).json()
    assert data["payload"]["secret"] == "card 4242"
    assert ContentReveal.objects.get().actor_name == "lead"
    listed = client.get("/console/api/reveals").json()["reveals"]
    assert [(r["actor"], r["reason"], r["seq"]) for r in listed] == [("lead", "SUP-9", event.seq)]


def test_admin_without_reveal_permission_cannot_see_content(admin, troubled_thread):
    event = Event.objects.filter(thread=troubled_thread).first()
    assert post(admin, f"/console/api/events/{event.event_id}/reveal").status_code == 403
