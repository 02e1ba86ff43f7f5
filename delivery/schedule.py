"""The Celery beat entries the delivery core needs, for a project's CELERY_BEAT_SCHEDULE.

    CELERY_BEAT_SCHEDULE = {**delivery_beat_schedule(reconcile_every=2.0), ...}

Read at settings time, so it imports nothing of Django's app registry.
"""

from typing import Any

from celery.schedules import crontab


def delivery_beat_schedule(*, reconcile_every: float = 2.0) -> dict[str, dict[str, Any]]:
    """The reconciler every `reconcile_every` seconds (LEDGERLINE RECONCILE_INTERVAL), retention
    daily at a quiet hour, and tomorrow's partitions made hourly."""
    return {
        "reconcile": {
            "task": "delivery.tasks.reconcile",
            "schedule": reconcile_every,
            "options": {"expires": max(10.0, 5 * reconcile_every)},
        },
        # A run no worker picked up within 6 h is dropped, so a stopped worker never finds a
        # backlog of prunes; the next day's run does the same work.
        "prune-ledger": {
            "task": "delivery.tasks.prune_ledger",
            "schedule": crontab(hour=3, minute=30),
            "options": {"expires": 6 * 3600},
        },
        # Hourly, so a day's partitions exist long before its first event, whatever time beat
        # starts; each run creates only what is missing.
        "ensure-partitions": {
            "task": "delivery.tasks.ensure_partitions",
            "schedule": crontab(minute=17),
            "options": {"expires": 3600},
        },
    }
