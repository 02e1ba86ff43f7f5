"""The reconciler and the canary run on beat's schedule, from settings: no admin clicking."""

from django.conf import settings

from config.celery_app import app


def test_beat_runs_the_reconciler_and_the_canary_on_their_intervals():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["reconcile"]["task"] == "delivery.tasks.reconcile"
    assert schedule["reconcile"]["schedule"] == settings.LEDGERLINE["RECONCILE_INTERVAL"]
    assert schedule["canary"]["task"] == "monitoring.tasks.run_canary"
    assert schedule["canary"]["schedule"] == settings.LEDGERLINE_MONITORING["CANARY_INTERVAL"]


def test_scheduled_tasks_are_registered_with_the_worker_app():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
    assert "monitoring.tasks.verify_delivery" in app.tasks
