"""Readiness follows the last full verification; a failing canary also takes it down, and a
passing canary alone never lifts a failed verification. After a failure beat reruns the full
verification, so readiness comes back by itself once the stack is healthy again."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from delivery.repair.reconcile import reconcile
from monitoring.models import Alert, VerificationRun
from monitoring.readiness import readiness
from monitoring.tasks import run_canary
from monitoring.verification import run_verification
from tests.monitoring.scrape import scrape, value
from tests.processes import ROOT, start_celery_worker, stop, subprocess_env


def _run(trigger: str, ok: bool) -> VerificationRun:
    return VerificationRun.objects.create(trigger=trigger, ok=ok, finished_at=timezone.now())


@pytest.mark.django_db
def test_the_rule_on_recorded_runs(client):
    def status() -> int:
        return client.get("/healthz/ready").status_code

    assert status() == 503 and readiness().status == "unverified"
    _run("startup", ok=False)
    assert status() == 503
    _run("canary", ok=True)
    assert status() == 503  # a passing canary never lifts a failed verification
    assert readiness().detail.startswith("verification #")
    _run("recheck", ok=True)
    assert status() == 200
    _run("canary", ok=False)
    assert status() == 503 and "canary #" in client.get("/healthz/ready").json()["detail"]
    assert value(scrape(), "websocket_enhancement_status") == 0
    _run("canary", ok=True)
    assert status() == 200 and value(scrape(), "websocket_enhancement_status") == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.process
def test_a_real_sequence_fail_canary_passes_still_503_full_passes_200(
    web, settings, tmp_path, client
):
    """The worker is down: full verification fails. The canary (which needs no worker) passes,
    and readiness stays 503. The worker comes back; beat's next run reruns the full
    verification instead of the canary, it passes, and readiness is 200 again."""
    web()
    settings.CELERY_TASK_DEFAULT_QUEUE = f"{django_settings.TEST_RUN}-readiness"
    failed = run_verification(trigger="startup")
    assert failed.failed_checks == ["worker"]
    assert client.get("/healthz/ready").status_code == 503

    canary = run_verification(trigger="canary", only=["canary"])
    assert canary.ok
    assert client.get("/healthz/ready").status_code == 503

    worker = start_celery_worker(tmp_path / "worker.log")
    try:
        reconcile()  # starting the worker took a while: keep beat's heartbeat fresh
        run_canary()  # beat: the last full verification failed, so it runs in full
    finally:
        stop(worker)
    recheck = VerificationRun.objects.latest("started_at")
    assert (recheck.trigger, recheck.ok) == ("recheck", True), recheck.checks
    assert [c["name"] for c in recheck.checks][-1] == "canary"
    assert client.get("/healthz/ready").status_code == 200
    assert Alert.objects.get(kind="verification_failed").state == "resolved"


@pytest.mark.django_db
def test_verify_delivery_beside_no_stack_says_so_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLINE_EMBEDDED", "redis")  # its own Redis was started for it
    monkeypatch.setenv("LEDGERLINE_STACK_FILE", str(tmp_path / "stack.json"))
    _run("startup", ok=True)
    with pytest.raises(CommandError, match="No Ledgerline stack is running"):
        call_command("verify_delivery")
    assert VerificationRun.objects.count() == 1 and not Alert.objects.exists()
    (tmp_path / "stack.json").write_text(json.dumps({"pid": 2**22 + 7, "env": {}}))
    with pytest.raises(CommandError, match="No Ledgerline stack is running"):
        call_command("verify_delivery")  # a record whose launcher is gone is no stack
    assert readiness().ready


@pytest.mark.django_db(transaction=True)
@pytest.mark.process
def test_verify_delivery_beside_a_live_stack_uses_its_redis_and_url(
    web, celery_worker_process, tmp_path
):
    """`config.embedded exec -- manage.py verify_delivery` while `make run` is up: the command's
    own Redis and the default PUBLIC_URL lead nowhere; it verifies the live stack instead."""
    web()
    stack = tmp_path / "stack.json"
    live = {"REDIS_URL": django_settings.REDIS_URL, "PUBLIC_URL": django_settings.PUBLIC_URL}
    stack.write_text(json.dumps({"pid": os.getpid(), "env": live}))
    env = subprocess_env(
        LEDGERLINE_EMBEDDED="redis",
        LEDGERLINE_STACK_FILE=str(stack),
        REDIS_URL="redis://127.0.0.1:1/0",  # what embedded started for the command alone
        PUBLIC_URL="http://127.0.0.1:1",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "verify_delivery"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Verifying the running stack (pid {os.getpid()})" in done.stdout
    run = VerificationRun.objects.get()
    assert run.ok and run.trigger == "manual"
