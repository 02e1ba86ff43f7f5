"""Alerts: every detected failure is logged loudly, stored once per subject, and optionally
posted, signed, to ALERT_WEBHOOK_URL by a Celery task (monitoring/webhook.py). Raising an alert
never raises, and never waits for the webhook."""

import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from monitoring import webhook
from monitoring.models import ACTIVE_ALERT_STATES, Alert, AlertState

logger = logging.getLogger("monitoring.alerts")

LEVELS = {"error": logging.ERROR, "critical": logging.CRITICAL}


def raise_alert(
    *,
    kind: str,
    summary: str,
    thread_id: uuid.UUID | str | None = None,
    severity: str = "error",
    context: dict[str, Any] | None = None,
) -> Alert:
    """Open an alert, or bump the active one of the same kind and subject."""
    subject = str(thread_id) if thread_id else "-"
    context = context or {}
    alert, created = _open_or_bump(kind, subject, thread_id, severity, summary, context)
    logger.log(
        LEVELS.get(severity, logging.ERROR),
        "ALERT %s %s [%s] %s (seen %s time(s)) %s",
        kind,
        "opened" if created else "repeated",
        subject,
        summary,
        alert.count,
        json.dumps(context, default=str),
    )
    if created:
        post_webhook(alert)
    return alert


def _open_or_bump(
    kind: str,
    subject: str,
    thread_id: uuid.UUID | str | None,
    severity: str,
    summary: str,
    context: dict[str, Any],
) -> tuple[Alert, bool]:
    with transaction.atomic():
        alert = _bump(kind, subject, summary, context)
        if alert is not None:
            return alert, False
        try:
            with transaction.atomic():
                now = timezone.now()
                alert = Alert.objects.create(
                    kind=kind,
                    subject=subject,
                    thread_id=thread_id,
                    severity=severity,
                    summary=summary[:300],
                    context=context,
                    first_seen=now,
                    last_seen=now,
                )
            return alert, True
        except IntegrityError:  # another process opened it a moment ago
            bumped = _bump(kind, subject, summary, context)
            assert bumped is not None
            return bumped, False


def _bump(kind: str, subject: str, summary: str, context: dict[str, Any]) -> Alert | None:
    active = Alert.objects.filter(kind=kind, subject=subject, state__in=ACTIVE_ALERT_STATES)
    if not active.update(
        count=F("count") + 1, last_seen=timezone.now(), summary=summary[:300], context=context
    ):
        return None
    return active.first()


def resolve_alerts(
    *, kind: str, thread_id: uuid.UUID | str | None = None, cause: str = "its condition cleared"
) -> int:
    """Ledgerline resolves the active alert of `kind` on a subject itself, because its
    condition cleared (`cause` says how: a passing check, the events acknowledged)."""
    subject = str(thread_id) if thread_id else "-"
    active = Alert.objects.filter(kind=kind, subject=subject)
    return len(resolve(active, cause=cause))


def resolve(
    alerts: QuerySet[Alert], *, by: str = "", note: str = "", cause: str = ""
) -> list[Alert]:
    """Resolve the active ones of `alerts`: by an operator (`by`, with an optional `note`), or
    by Ledgerline (`by` empty, with the `cause`). Each is logged and sent to the webhook."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            alerts.filter(state__in=ACTIVE_ALERT_STATES)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        Alert.objects.filter(pk__in=ids).update(
            state=AlertState.RESOLVED,
            resolved_at=now,
            resolved_by=by[:150],
            resolve_note=note[:500],
            cause=cause[:300],
        )
    resolved = list(Alert.objects.filter(pk__in=ids))
    for alert in resolved:
        who = f"by {by}" if by else "by Ledgerline"
        logger.warning(
            "ALERT %s resolved [%s] %s: %s", alert.kind, alert.subject, who, cause or note
        )
        post_webhook(alert)
    return resolved


def acknowledge_alert(*, alert_id: int, by: str = "", note: str = "") -> int:
    """An operator takes an open alert on; an alert in any other state is left as it is."""
    return Alert.objects.filter(pk=alert_id, state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED,
        acknowledged_at=timezone.now(),
        acknowledged_by=by[:150],
        acknowledge_note=note[:500],
    )


def webhook_body(alert: Alert) -> dict[str, Any]:
    public = settings.PUBLIC_URL.rstrip("/")
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "summary": alert.summary,
        "thread": alert.subject if alert.thread_id else None,
        "first_seen": alert.first_seen.isoformat(),
        "context": alert.context,
        # "open" when it opens, "resolved" when it resolves, with who or what resolved it.
        "state": alert.state,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolved_by": alert.resolved_by or ("Ledgerline" if alert.resolved_at else None),
        "cause": alert.cause,
        "note": alert.resolve_note,
        "url": f"{public}/admin/monitoring/alert/{alert.pk}/change/",
    }


def post_webhook(alert: Alert) -> None:
    """Queue an alert's signed POST to ALERT_WEBHOOK_URL, when it opens and when it resolves;
    retries happen in a worker."""
    if settings.ALERT_WEBHOOK_URL:
        webhook.send_in_background(json.dumps(webhook_body(alert), default=str))
