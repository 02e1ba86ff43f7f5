"""/metrics: DESIGN's names, values that match the ledger, and access control."""

import asyncio

import pytest

from delivery import emit_many
from delivery.models import Thread
from delivery.reconcile import reconcile
from monitoring.models import VerificationRun
from tests.delivery.wsclient import connect, db, eventually, receive_events, send
from tests.factories import ThreadFactory
from tests.monitoring.scrape import metric_names, scrape, value

DESIGN_NAMES = {
    "websocket_events_sent_total",
    "websocket_events_failed_total",
    "websocket_events_dropped_total",
    "websocket_enhancement_status",
    "critical_event_delivery_time_seconds_bucket",
    "silent_failure_detected_total",
    # and the additions the issue asks for
    "ledger_unacked_events",
    "ledger_live_connections",
    "websocket_gaps_healed_total",
    "websocket_redeliveries_total",
    "ledger_reconciler_lag_seconds",
    "ledger_reconciler_last_run_age_seconds",
    "ledger_canary_latency_seconds_bucket",
}


@pytest.mark.django_db(transaction=True)
async def test_metrics_match_the_ledger_after_a_scripted_scenario(thread, user, fast_timings):
    fast_timings(ACK_DEADLINE=0.1, RETRY_BUDGET=1)
    before = await db(scrape)()
    ws, _ = await connect(thread, user)
    await db(emit_many)(thread, [("step", {"i": i}) for i in range(5)])
    await receive_events(ws, 5)
    await send(ws, {"type": "ack", "seq": 3})
    acked = db(lambda: Thread.objects.get(pk=thread.pk).acked_seq)
    assert await eventually(lambda: _equals(acked, 3))
    away = await db(ThreadFactory)(owner=user)
    await db(emit_many)(away, [("step", {}), ("step", {})])  # nobody connected: waiting
    await asyncio.sleep(0.15)
    await db(reconcile)()  # seq 4 and 5 exhaust their budget of 1 send
    after = await db(scrape)()

    assert not DESIGN_NAMES - metric_names(after)
    assert value(after, "ledger_undelivered_events") == 2
    assert value(after, "ledger_unacked_events", le="+Inf") == 2  # the away thread's two
    assert value(after, "ledger_unacked_events", le="+Inf", client="away") == 2
    assert value(after, "ledger_live_connections") == 1
    assert _delta(before, after, "websocket_events_sent_total", trigger="live") == 5
    assert _delta(before, after, "silent_failure_detected_total", kind="unacked") == 2
    assert _delta(before, after, "critical_event_delivery_time_seconds_count") == 3
    assert value(after, "websocket_enhancement_status") == 0
    await ws.disconnect()


async def _equals(count, expected):
    return await count() == expected


def _delta(before: str, after: str, name: str, **labels: str) -> float:
    try:
        old = value(before, name, **labels)
    except AssertionError:
        old = 0.0
    return value(after, name, **labels) - old


@pytest.mark.django_db
def test_enhancement_status_follows_the_last_verification():
    VerificationRun.objects.create(ok=False, finished_at="2026-01-01T00:00Z")
    assert value(scrape(), "websocket_enhancement_status") == 0
    VerificationRun.objects.create(ok=True, finished_at="2026-01-01T00:01Z")
    assert value(scrape(), "websocket_enhancement_status") == 1


@pytest.mark.django_db
def test_without_a_token_metrics_answer_loopback_only(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403


@pytest.mark.django_db
def test_with_a_token_metrics_need_the_bearer(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    assert ok.status_code == 200
    assert b"websocket_enhancement_status" in ok.content


@pytest.mark.django_db
def test_healthz_live_always_answers(client):
    assert client.get("/healthz/live").status_code == 200


@pytest.mark.django_db
def test_healthz_ready_follows_the_last_verification(client):
    assert client.get("/healthz/ready").status_code == 503  # never verified
    VerificationRun.objects.create(ok=True, finished_at="2026-01-01T00:00Z")
    assert client.get("/healthz/ready").status_code == 200
    VerificationRun.objects.create(
        ok=False,
        finished_at="2026-01-01T00:01Z",
        checks=[{"name": "canary", "ok": False, "duration": 1.0, "detail": "x"}],
    )
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["failed_checks"] == ["canary"]
