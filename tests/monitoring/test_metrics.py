"""/metrics: DESIGN's names, values that match the ledger, and access control."""

import asyncio
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import delivery
from delivery import emit_many
from delivery import metrics as delivery_metrics
from delivery.models import Thread, Trigger
from delivery.repair.reconcile import reconcile
from monitoring.models import ALERT_KINDS, VerificationRun
from tests.delivery.wsclient import connect, db, eventually, receive_events, send
from tests.factories import ThreadFactory
from tests.monitoring.scrape import metric_names, scrape, value
from tests.monitoring.test_dashboards import dashboard_exprs, referenced_metrics
from tests.processes import free_port, start_daphne, stop

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


def _label_literals() -> dict[str, set[str]]:
    """Every literal label value delivery's code passes to `.labels(...)`, and every frame error
    code it raises, by label name."""
    found: dict[str, set[str]] = {"cause": set(), "kind": set(), "code": set()}
    for path in (Path(delivery.__file__).parent).rglob("*.py"):
        text = path.read_text()
        for name, label in re.findall(r'\.labels\((\w+)="([a-z_]+)"\)', text):
            found[name].add(label)
        found["code"] |= set(re.findall(r'FrameError\(\s*"([a-z_]+)"', text))
    return found


def test_known_labels_cover_every_value_the_code_uses():
    known = {c._name: set(v) for c, v in delivery_metrics.KNOWN_LABELS.items()}
    literals = _label_literals()
    assert literals["cause"] <= known["websocket_events_failed"] | known["websocket_events_dropped"]
    assert literals["kind"] <= known["silent_failure_detected"]
    assert literals["code"] == known["websocket_bad_frames"]
    # Exactly the triggers: a new one fails here until its series is exported at 0.
    socket_writes = set(Trigger.values) - {Trigger.POLL}  # polls answer over HTTP
    assert set(known["websocket_events_sent"]) == socket_writes
    assert set(known["websocket_redeliveries"]) == socket_writes - {Trigger.LIVE, Trigger.RESUME}
    failed = {"fast_path", *(f"{t}_send" for t in known["websocket_redeliveries"])}
    assert known["websocket_events_failed"] == failed  # fanout's causes, one per trigger


@pytest.mark.django_db(transaction=True)
@pytest.mark.process
def test_a_fresh_process_exports_every_labelled_counter_at_zero(tmp_path):
    """A healthy system, just started: no failure has happened, and still every series the
    dashboard and the alert rules read is there, at 0 (multiprocess mode, as under make run)."""
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    web = start_daphne(port, tmp_path / "web.log", PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    finally:
        stop(web)
    for counter, labels in delivery_metrics.KNOWN_LABELS.items():
        name, label = f"{counter._name}_total", counter._labelnames[0]
        for label_value in labels:
            assert value(text, name, **{label: label_value}) == 0, (name, label_value)
    for kind in ALERT_KINDS:
        assert value(text, "ledger_active_alerts", kind=kind) == 0
    served = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    for expr in dashboard_exprs():
        missing = referenced_metrics(expr) - served
        assert not missing, f"the dashboard's {expr!r} would show no data: {missing}"
