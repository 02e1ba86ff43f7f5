"""Startup verification against a real daphne and a real Celery worker, healthy and broken."""

import threading

import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from delivery.models import Event
from delivery.repair.reconcile import reconcile
from monitoring.canary import canary_thread
from monitoring.models import Alert, VerificationRun
from monitoring.tasks import run_canary
from monitoring.verification import run_verification
from tests.monitoring.sampling import sample
from tests.monitoring.scrape import scrape, value
from tests.processes import start_celery_worker, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

CHECKS = ["database", "channel_layer", "worker", "reconciler_heartbeat", "canary"]


def _assert_failed_loudly(run, check, client, caplog):
    assert not run.ok
    assert check in run.failed_checks
    assert client.get("/healthz/ready").status_code == 503
    assert value(scrape(), "websocket_enhancement_status") == 0
    alert = Alert.objects.get(kind="verification_failed", state="open")
    assert check in alert.summary and alert.severity == "critical"
    assert any(r.levelname == "CRITICAL" and check in r.getMessage() for r in caplog.records)


def test_verification_passes_on_a_healthy_stack(web, celery_worker_process, client, capsys):
    web()
    call_command("verify_delivery", "--trigger", "startup")
    assert "passed" in capsys.readouterr().out
    run = VerificationRun.objects.get()
    assert [c["name"] for c in run.checks] == CHECKS
    assert run.ok, run.checks
    assert all(c["duration"] >= 0 for c in run.checks)
    assert client.get("/healthz/ready").status_code == 200
    assert value(scrape(), "websocket_enhancement_status") == 1
    canary = Event.objects.get(thread=canary_thread(), type="canary")
    assert canary_thread().acked_seq >= canary.seq


def _verified():
    """A full verification that passed: beat's schedule then runs the canary alone."""
    VerificationRun.objects.create(trigger="startup", ok=True, finished_at=timezone.now())


def test_scheduled_canary_records_its_latency(web, client):
    web()
    _verified()
    before = sample("ledger_canary_latency_seconds_count")
    run_canary()
    run = VerificationRun.objects.get(trigger="canary")
    assert run.ok and [c["name"] for c in run.checks] == ["canary"]
    assert sample("ledger_canary_latency_seconds_count") == before + 1


def test_wrong_channel_layer_host_fails_verification(web, settings, client, caplog):
    web(REDIS_URL="redis://127.0.0.1:1/0", CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL)
    default = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**default, "CONFIG": {**default["CONFIG"], "hosts": ["redis://127.0.0.1:1/0"]}}
    }
    channel_layers.backends = {}
    try:
        with pytest.raises(CommandError, match="channel_layer"):
            call_command("verify_delivery")
    finally:
        channel_layers.backends = {}
    run = VerificationRun.objects.get()
    assert {"channel_layer", "canary"} <= set(run.failed_checks)
    _assert_failed_loudly(run, "channel_layer", client, caplog)


def test_stopped_worker_fails_verification(web, settings, tmp_path, client, caplog):
    web()
    settings.CELERY_TASK_DEFAULT_QUEUE = f"{django_settings.TEST_RUN}-solo"
    worker = start_celery_worker(tmp_path / "solo-worker.log")
    try:
        reconcile()  # starting the worker took a while: keep beat's heartbeat fresh
        assert run_verification().ok
    finally:
        stop(worker)
    reconcile()
    run = run_verification()
    assert run.failed_checks == ["worker"]
    _assert_failed_loudly(run, "worker", client, caplog)


def test_consumer_that_cannot_send_fails_the_canary(web, celery_worker_process, client, caplog):
    web(module="tests.monitoring.mute_daphne")
    run = run_verification()
    assert run.failed_checks == ["canary"]
    assert "no 'event' frame" in run.checks[-1]["detail"]
    _assert_failed_loudly(run, "canary", client, caplog)


def test_a_passing_run_resolves_the_verification_alert(web, celery_worker_process):
    web()
    Alert.objects.create(kind="verification_failed", summary="earlier failure")
    assert run_verification().ok
    assert Alert.objects.get().state == "resolved"


def test_startup_retries_quietly_until_the_stack_is_up(web, celery_worker_process, caplog):
    from delivery.models import ReconcilerHeartbeat
    from monitoring.verification import verify_until_ok

    web()
    ReconcilerHeartbeat.objects.all().delete()  # beat has not run yet
    threading.Timer(1.0, _reconcile_in_thread).start()
    run = verify_until_ok(retry_for=10)
    assert run.ok
    assert VerificationRun.objects.filter(ok=False).exists()  # recorded, not alerted
    assert not Alert.objects.exists()
    assert not any(r.levelname == "CRITICAL" for r in caplog.records)


def _reconcile_in_thread():
    from django.db import connection

    try:
        reconcile()
    finally:
        connection.close()


def test_failing_scheduled_canary_opens_an_alert(web, client):
    web(module="tests.monitoring.mute_daphne")
    _verified()
    run_canary()
    assert VerificationRun.objects.get(trigger="canary").failed_checks == ["canary"]
    alert = Alert.objects.get(kind="canary_failed", state="open")
    assert alert.severity == "critical"
    assert client.get("/healthz/ready").status_code == 503
