"""Startup verification: the stack is checked by behaviour, end to end, and every run recorded.

`run_verification()` is the entry point for `manage.py verify_delivery` and the Celery task;
the console records a run first, so its page can show it check by check, and completes it
with `complete_run()`, the same loop. Each check either returns a detail string or raises; a
failed run is logged CRITICAL, opens a `verification_failed` alert and makes `/healthz/ready`
answer 503.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from celery import current_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from delivery import conf
from delivery.models import ReconcilerHeartbeat
from delivery.repair.reconcile import RECONCILER
from monitoring import conf as monitoring_conf
from monitoring import metrics
from monitoring.alerts import raise_alert, resolve_alerts
from monitoring.canary import acanary
from monitoring.exceptions import CheckFailed
from monitoring.models import VerificationRun

logger = logging.getLogger("monitoring.verification")

PING_TASK = "monitoring.tasks.ping"

Check = Callable[[float], str]


def check_database(timeout: float) -> str:
    connection.ensure_connection()
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        raise CheckFailed(f"{len(plan)} migration(s) not applied: {names}")
    return f"reachable; all migrations applied ({connection.settings_dict['NAME']})"


async def _layer_round_trip(timeout: float) -> str:  # noqa: ASYNC109
    layer = get_channel_layer()
    if layer is None:
        raise CheckFailed("no channel layer is configured")
    channel = await layer.new_channel("verify.")
    nonce = uuid.uuid4().hex
    await asyncio.wait_for(layer.send(channel, {"type": "verify.probe", "nonce": nonce}), timeout)
    message = await asyncio.wait_for(layer.receive(channel), timeout)
    if message.get("nonce") != nonce:
        raise CheckFailed("the probe channel returned a different message")
    return f"round trip through {layer.__class__.__name__} on a probe channel"


def check_channel_layer(timeout: float) -> str:
    try:
        return async_to_sync(_layer_round_trip)(timeout)
    except TimeoutError:
        raise CheckFailed(f"no round trip within {timeout}s") from None


def check_worker(timeout: float) -> str:
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    # Sent by name: the worker answers `monitoring.tasks.ping`, which imports this module.
    result = current_app.send_task(PING_TASK, queue=queue, expires=timeout)
    try:
        answer = result.get(timeout=timeout, disable_sync_subtasks=False)
    except Exception as exc:
        raise CheckFailed(
            f"no worker answered a ping task on queue {queue!r} within {timeout}s "
            f"({exc.__class__.__name__})"
        ) from None
    finally:
        result.forget()
    return f"worker {answer} answered on queue {queue!r}"


def heartbeat_bound() -> float:
    return 3 * conf.current().reconcile_interval + 5.0


def check_reconciler_heartbeat(timeout: float) -> str:
    beat = ReconcilerHeartbeat.objects.filter(name=RECONCILER).first()
    if beat is None:
        raise CheckFailed("the reconciler has never run: is celery beat running?")
    age = (timezone.now() - beat.last_finished_at).total_seconds()
    if age > heartbeat_bound():
        raise CheckFailed(f"last reconcile finished {age:.1f}s ago (bound {heartbeat_bound()}s)")
    return f"last reconcile {age:.1f}s ago, took {beat.last_duration * 1000:.0f} ms"


def check_canary(timeout: float) -> str:
    result = async_to_sync(acanary)(timeout=timeout)
    metrics.canary_latency.observe(result.latency)
    return f"event seq {result.seq} delivered and acked in {result.latency * 1000:.0f} ms"


CHECKS: list[tuple[str, Check]] = [
    ("database", check_database),
    ("channel_layer", check_channel_layer),
    ("worker", check_worker),
    ("reconciler_heartbeat", check_reconciler_heartbeat),
    ("canary", check_canary),
]


def run_check(name: str, check: Check, timeout: float) -> dict[str, object]:
    started = time.monotonic()
    try:
        detail, ok = check(timeout), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except Exception as exc:
        detail, ok = f"{exc.__class__.__name__}: {exc}", False
    return {
        "name": name,
        "ok": ok,
        "duration": round(time.monotonic() - started, 4),
        "detail": detail[:500],
    }


def run_verification(
    *, trigger: str = "manual", only: list[str] | None = None, final: bool = True
) -> VerificationRun:
    """Run every check (or `only` these), record the run, and alert loudly when one fails.

    `final=False` (a start-up retry that will run again) records the run and logs a warning
    instead of alerting.
    """
    run = VerificationRun.objects.create(trigger=trigger)
    return complete_run(run, only=only, final=final)


def complete_run(
    run: VerificationRun, *, only: list[str] | None = None, final: bool = True
) -> VerificationRun:
    """Run the checks of a recorded run one by one, saving after each so a page can show the
    run's progress, then report it. A run already finished is left as it is."""
    if run.finished_at is not None:
        return run
    timeout = monitoring_conf.current().check_timeout
    for name, check in CHECKS:
        if only is None or name in only:
            run.checks = [*run.checks, run_check(name, check, timeout)]
            run.save(update_fields=["checks"])
    run.ok = all(check["ok"] for check in run.checks)
    run.finished_at = timezone.now()
    run.save(update_fields=["ok", "finished_at"])
    if final or run.ok:
        report(run)
    else:
        logger.warning("verification %s not passing yet: %s", run.pk, _summary(run))
    return run


def report(run: VerificationRun) -> None:
    """Log the run; a failure opens (or bumps) its alert, a pass resolves what it proves: a
    canary run its canary alert, a full run (which includes the canary) both."""
    kind = "canary_failed" if run.is_canary else "verification_failed"
    if run.ok:
        logger.info("verification %s (%s) passed: %s", run.pk, run.trigger, _summary(run))
        cleared = ["canary_failed"] if run.is_canary else ["verification_failed", "canary_failed"]
        for alert_kind in cleared:
            resolve_alerts(kind=alert_kind, cause=f"{run.trigger} run #{run.pk} passed")
        return
    logger.critical(
        "VERIFICATION FAILED (%s): %s. %s", run.trigger, ", ".join(run.failed_checks), _summary(run)
    )
    raise_alert(
        kind=kind,
        severity="critical",
        summary=f"{run.trigger} verification failed: {', '.join(run.failed_checks)}",
        context={"run": run.pk, "checks": [c for c in run.checks if not c["ok"]]},
    )


def _summary(run: VerificationRun) -> str:
    return "; ".join(
        f"{c['name']} {'ok' if c['ok'] else 'FAILED'} ({c['duration']}s): {c['detail']}"
        for c in run.checks
    )


def verify_until_ok(*, retry_for: float, trigger: str = "startup") -> VerificationRun:
    """Re-run verification until it passes or `retry_for` seconds pass (the stack is starting)."""
    deadline = time.monotonic() + retry_for
    while True:
        last_try = time.monotonic() >= deadline
        run = run_verification(trigger=trigger, final=last_try)
        if run.ok or last_try:
            return run
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
