"""Who may see and do what in the console; every check is on the server."""

import json

import pytest

from console.models import ContentReveal
from delivery.models import Event, ReplayRequest
from tests.console.conftest import staff
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/console/",
    "/console/threads/",
    "/console/replays/",
    "/console/verification/",
    "/console/alerts/",
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_non_staff_user_is_forbidden(client, url):
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403


def test_staff_without_a_console_role_is_forbidden(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/console/").status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_support_sees_every_page(support, url):
    assert support.get(url).status_code == 200


def test_support_sees_the_thread_but_no_replay_or_content(support, troubled_thread):
    html = support.get(f"/console/threads/{troubled_thread.pk}/").content.decode()
    assert "given up (no ack after 3 sends): needs a replay" in html
    assert "Dry run" not in html and "Reveal content" not in html
    assert "card 4242" not in html


def test_support_cannot_replay_by_post_or_api(support, troubled_thread):
    form = {"scope": "thread", "thread": str(troubled_thread.pk), "reason": "user asked"}
    assert support.post("/console/replays/new", form).status_code == 403
    assert support.get("/console/replays/dry-run", form).status_code == 403
    api = support.post("/console/api/replays", json.dumps(form), content_type="application/json")
    assert api.status_code == 403 and api.json()["error"] == "forbidden"
    assert not ReplayRequest.objects.exists()


def test_support_cannot_run_verification_or_touch_alerts(support):
    assert support.post("/console/verification/run").status_code == 403
    assert support.post("/console/api/verification").status_code == 403
    assert support.post("/console/alerts/1/resolve").status_code == 403


def test_console_posts_need_a_csrf_token(admin_user, troubled_thread):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    form = {"scope": "thread", "thread": str(troubled_thread.pk), "reason": "user asked"}
    assert client.post("/console/replays/new", form).status_code == 403
    assert not ReplayRequest.objects.exists()


def test_api_answers_401_to_anonymous(client):
    assert client.get("/console/api/overview").status_code == 401


def test_reveal_needs_the_extra_permission_and_is_audited(client, troubled_thread):
    event = Event.objects.filter(thread=troubled_thread).first()
    url = f"/console/events/{event.event_id}/reveal"
    plain = staff("plain-support", "support")
    client.force_login(plain)
    assert client.post(url).status_code == 403
    revealer = staff("senior-support", "support", extra=("reveal_content",))
    client.force_login(revealer)
    page = client.get(f"/console/threads/{troubled_thread.pk}/").content.decode()
    assert "Reveal content…" in page
    unexplained = client.post(url, headers={"HX-Request": "true"})
    assert unexplained.status_code == 400 and "needs a reason" in unexplained.content.decode()
    assert "card 4242" not in unexplained.content.decode()
    response = client.post(url, {"reason": "SUP-7 wrong answer"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "&quot;card 4242&quot;" in html  # JSON, not a dict
    assert "&#x27;secret&#x27;" not in html
    audit = ContentReveal.objects.get()
    assert (audit.actor_name, audit.event_id, audit.reason) == (
        "senior-support",
        event.pk,
        "SUP-7 wrong answer",
    )
    timeline = client.get(f"/console/threads/{troubled_thread.pk}/").content.decode()
    assert "senior-support revealed event" in timeline and "SUP-7 wrong answer" in timeline
    reveals = client.get("/console/reveals/").content.decode()
    assert (
        "SUP-7 wrong answer" in reveals and f"#{event.seq} " in reveals and "agent_step" in reveals
    )


def test_admin_can_dry_run_a_single_event_from_the_timeline(admin, troubled_thread):
    page = admin.get(f"/console/threads/{troubled_thread.pk}/").content.decode()
    event = Event.objects.filter(thread=troubled_thread).order_by("seq").last()
    link = f"/console/replays/dry-run?scope=event&amp;event={event.event_id}"
    assert link in page
    plan = admin.get(link.replace("&amp;", "&")).content.decode()
    assert "would be sent again" in plan and "Replay 1 event" in plan
