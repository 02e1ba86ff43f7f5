"""Alerts resolve themselves when their condition clears, with the time and the cause.

A thread's `undelivered` alert clears when the thread has no undelivered range left above its
acked watermark and its client acknowledged everything the alert named (a reconnect, a replay or
a late ack did it); a `stalled_run` alert clears when the client acknowledged the `agent_failed`
event that closed the run. Verification alerts clear in monitoring.verification, when a run
passes. Monitoring runs `resolve_cleared` after every reconciler sweep (monitoring/receivers.py).
"""

from django.db.models import Exists, F, OuterRef

from delivery.models import UndeliveredRange
from monitoring.alerts import resolve
from monitoring.models import ACTIVE_ALERT_STATES, Alert


def _named_seq(alert: Alert) -> int | None:
    """The highest seq the alert is about: its undelivered range's last, or the run's close."""
    value = alert.context.get("last", alert.context.get("closing_seq"))
    return value if isinstance(value, int) else None


def resolve_cleared() -> int:
    """Resolve every active thread alert whose events are all acknowledged now."""
    still_lost = UndeliveredRange.objects.filter(
        thread=OuterRef("thread"),
        reopened_at__isnull=True,
        last_seq__gt=OuterRef("thread__acked_seq"),
    )
    candidates = (
        Alert.objects.filter(state__in=ACTIVE_ALERT_STATES, kind__in=("undelivered", "stalled_run"))
        .filter(thread__isnull=False)
        .annotate(acked_seq=F("thread__acked_seq"), lost=Exists(still_lost))
    )
    cleared = 0
    for alert in candidates:
        named = _named_seq(alert)
        lost = alert.kind == "undelivered" and alert.lost  # type: ignore[attr-defined]
        if lost or named is None or alert.acked_seq < named:  # type: ignore[attr-defined]
            continue
        what = "events" if alert.kind == "undelivered" else "the closing agent_failed event"
        cause = (
            f"the client acknowledged the {what} up to #{named} (acked up to #{alert.acked_seq})"  # type: ignore[attr-defined]
        )
        cleared += len(resolve(Alert.objects.filter(pk=alert.pk), cause=cause))
    return cleared
