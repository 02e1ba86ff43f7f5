"""The console's actions: one service per action for the pages and the API alike, raising only
console errors, which each surface answers in its own way."""

import ast
import json
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from console import access, selectors, services
from console.exceptions import Forbidden, NotFound, NotSignedIn, ReplayRefused
from delivery.models import AuditedEvent, ReplayItem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CONSOLE = Path(__file__).resolve().parents[2] / "console"
SURFACES = [*sorted((CONSOLE / "views").glob("*.py")), CONSOLE / "api.py"]


def thread_scope(thread):
    return {"scope": "thread", "thread": str(thread.pk)}


def test_delivery_refusals_come_out_as_console_errors(admin_user, troubled_thread):
    with pytest.raises(ReplayRefused, match="a replay needs a reason") as refused:
        services.request_replay(scope=thread_scope(troubled_thread), actor=admin_user, reason="")
    assert (refused.value.code, refused.value.status) == ("replay_error", 400)
    with pytest.raises(ReplayRefused, match=r"seq range 3\.\.2 is empty"):
        services.plan_replay(scope={"scope": "range", "thread": "x", "first": "3", "last": "2"})


def test_missing_records_are_not_found(admin_user):
    with pytest.raises(NotFound, match="no such replay"):
        services.cancel_replay(replay_id=999, actor=admin_user)
    with pytest.raises(NotFound, match="no alert 999"):
        services.resolve_alert(alert_id=999, actor=admin_user)
    with pytest.raises(NotFound, match="no event"):
        services.reveal_payload(event_id=uuid.uuid4(), actor=admin_user, reason="SUP-1")
    with pytest.raises(NotFound, match="no such run"):
        selectors.verification_run(run_id=999)


def test_a_replay_request_records_its_actor(admin_user, troubled_thread):
    job = services.request_replay(
        scope=thread_scope(troubled_thread), actor=admin_user, reason="SUP-1", ticket="1"
    )
    assert (job.actor_name, job.planned_events, job.ticket) == ("admin-staff", 2, "1")
    cancelled = services.cancel_replay(replay_id=job.pk, actor=admin_user)
    assert (cancelled.state, cancelled.cancelled_by) == ("cancelling", "admin-staff")


@pytest.mark.parametrize(
    ("page", "api"),
    [
        ("/console/replays/999/cancel", "/console/api/replays/999/cancel"),
        ("/console/alerts/999/resolve", "/console/api/alerts/999/resolve"),
        (
            f"/console/events/{uuid.UUID(int=1)}/reveal",
            f"/console/api/events/{uuid.UUID(int=1)}/reveal",
        ),
    ],
)
def test_pages_and_api_refuse_alike(client, page, api):
    from tests.console.conftest import staff

    client.force_login(staff("lead", "admin", extra=("reveal_content",)))
    assert client.post(page).status_code == 404
    answer = client.post(api, "{}", content_type="application/json")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_a_refused_replay_shows_the_plan_again_on_the_page(admin, troubled_thread):
    response = admin.post("/console/replays/new", thread_scope(troubled_thread))
    html = response.content.decode()
    assert response.status_code == 400
    assert "a replay needs a reason" in html and "Replay 2 events" in html


def test_an_api_body_must_be_a_json_object(admin):
    response = admin.post("/console/api/replays", json.dumps([1]), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "console_error", "detail": "the body must be a JSON object"}


def test_the_operator_is_the_signed_in_user(admin_user):
    request = RequestFactory().post("/")
    request.user = admin_user
    assert access.operator(request) == admin_user
    request.user = AnonymousUser()
    with pytest.raises(NotSignedIn):
        access.operator(request)


def test_require_names_the_missing_permission(support_user):
    assert access.require(support_user) == support_user
    with pytest.raises(Forbidden, match=r"needs console\.replay_events"):
        access.require(support_user, access.REPLAY)
    with pytest.raises(NotSignedIn):
        access.require(AnonymousUser())
    with pytest.raises(Forbidden):
        access.require(UserFactory())


def test_replay_items_carry_their_event_type(admin_user, troubled_thread):
    job = services.request_replay(
        scope=thread_scope(troubled_thread), actor=admin_user, reason="SUP-2"
    )
    ReplayItem.objects.filter(replay=job, seq=5).update(event_id=uuid.uuid4())  # no audited copy
    items = selectors.replay_items(job, limit=10)
    assert AuditedEvent.objects.filter(event_id=items[0].event_id).exists()
    assert [(i.seq, i.event_type) for i in items] == [(4, "agent_step"), (5, "")]


def _queries_and_caught_errors(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            yield path.name, node.lineno, "queries the ORM"
        if isinstance(node, ast.ImportFrom) and node.module == "delivery.exceptions":
            yield path.name, node.lineno, "handles delivery's errors"


def test_views_and_api_leave_reads_to_selectors_and_errors_to_services():
    assert [found for path in SURFACES for found in _queries_and_caught_errors(path)] == []
