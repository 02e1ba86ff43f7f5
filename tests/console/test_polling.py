"""Live panels poll with htmx and stop with 286 when there is nothing more to show."""

import re

import pytest

from delivery.repair import replay
from monitoring.models import VerificationRun
from tests.ledger import ack

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def test_overview_poll_renders_only_its_panel(support):
    response = support.get("/console/", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="overview-live"')


def test_overview_stops_polling_after_a_minute_without_change(support):
    html = support.get("/console/", headers=HTMX).content.decode()
    fingerprint = re.search(r"fp=(\w+)", html).group(1)
    changing = support.get("/console/?fp=stale&idle=11", headers=HTMX)
    assert changing.status_code == 200
    still = support.get(f"/console/?fp={fingerprint}&idle=10", headers=HTMX)
    assert still.status_code == 200
    stopped = support.get(f"/console/?fp={fingerprint}&idle=11", headers=HTMX)
    assert stopped.status_code == 286
    assert "Live updates paused" in stopped.content.decode()
    assert "hx-trigger" not in stopped.content.decode()


def test_replay_progress_follows_the_job_to_the_acks_then_stops(admin, admin_user, troubled_thread):
    plan = replay.plan_range(thread_id=troubled_thread.pk, first=4, last=5)
    job = replay.request_replay(plan=plan, actor=admin_user, reason="check")
    assert admin.get(f"/console/replays/{job.pk}/", headers=HTMX).status_code == 200
    replay.run_replay(replay_id=job.pk)
    sent = admin.get(f"/console/replays/{job.pk}/", headers=HTMX)
    html = sent.content.decode()
    assert sent.status_code == 200 and "queued for next connect → not acked yet" in html
    ack(troubled_thread, 5)
    done = admin.get(f"/console/replays/{job.pk}/", headers=HTMX)
    assert done.status_code == 286 and "queued for next connect → acked" in done.content.decode()


def test_verification_progress_shows_pending_checks_then_stops(support):
    run = VerificationRun.objects.create(
        trigger="console",
        checks=[{"name": "database", "ok": True, "duration": 0.01, "detail": "reachable"}],
    )
    running = support.get(f"/console/verification/{run.pk}/", headers=HTMX)
    html = running.content.decode()
    assert running.status_code == 200 and "running 1 of 5" in html and "running…" in html
    run.finished_at, run.ok = run.started_at, True
    run.save()
    assert support.get(f"/console/verification/{run.pk}/", headers=HTMX).status_code == 286
