"""Console writes: audited reveals, alert state changes, and a verification run with progress."""

import uuid
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from console.exceptions import NotFound
from console.models import ContentReveal
from delivery import audit
from delivery.models import Event
from monitoring.alerts import acknowledge_alert
from monitoring.models import ACTIVE_ALERT_STATES, Alert, AlertState, VerificationRun
from monitoring.verification import CHECKS

CONSOLE_TRIGGER = "console"


def reveal_payload(*, event_id: uuid.UUID, actor: Any) -> tuple[Event, ContentReveal]:
    """Return the event with its payload and write the audit row saying who looked, and when.
    The event is copied to delivery's AuditedEvent, so the audit outlives retention."""
    event = audit.find_event(event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    with transaction.atomic():
        audit.preserve([event])
        reveal = ContentReveal.objects.create(
            actor=actor,
            actor_name=actor.get_username(),
            event_id=event.event_id,
            thread_id=event.thread_id,
        )
    return event, reveal


def acknowledge(*, alert_id: int) -> Alert:
    acknowledge_alert(alert_id=alert_id)
    return _alert(alert_id)


def resolve(*, alert_id: int) -> Alert:
    Alert.objects.filter(pk=alert_id, state__in=ACTIVE_ALERT_STATES).update(
        state=AlertState.RESOLVED, resolved_at=timezone.now()
    )
    return _alert(alert_id)


def _alert(alert_id: int) -> Alert:
    alert = Alert.objects.select_related("thread").filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def start_verification() -> VerificationRun:
    """Record a run and queue its checks on a worker; the page follows `checks` as they land."""
    from console.tasks import run_verification_checks

    with transaction.atomic():
        run = VerificationRun.objects.create(trigger=CONSOLE_TRIGGER)
        transaction.on_commit(partial(run_verification_checks.delay, run.pk))
    return run


def planned_checks() -> list[str]:
    return [name for name, _ in CHECKS]
