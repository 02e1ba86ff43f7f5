"""Alerts: every detected failure is logged loudly, stored once per subject, and optionally
posted to ALERT_WEBHOOK_URL. Raising an alert never raises."""

import json
import logging
import threading
import urllib.request
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from monitoring.models import ACTIVE_ALERT_STATES, Alert, AlertState

logger = logging.getLogger("monitoring.alerts")

LEVELS = {"error": logging.ERROR, "critical": logging.CRITICAL}
WEBHOOK_TIMEOUT = 3.0


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


def resolve_alerts(*, kind: str, thread_id: uuid.UUID | str | None = None) -> int:
    """Resolve the active alert of `kind` on a subject (a passing check resolves its alert)."""
    subject = str(thread_id) if thread_id else "-"
    count = Alert.objects.filter(kind=kind, subject=subject, state__in=ACTIVE_ALERT_STATES).update(
        state=AlertState.RESOLVED, resolved_at=timezone.now()
    )
    if count:
        logger.warning("ALERT %s resolved [%s]", kind, subject)
    return count


def acknowledge_alert(*, alert_id: int) -> int:
    return Alert.objects.filter(pk=alert_id, state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED
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
        "url": f"{public}/admin/monitoring/alert/{alert.pk}/change/",
    }


def post_webhook(alert: Alert) -> threading.Thread | None:
    """POST a new alert as JSON in the background, with a short timeout. Failures are logged."""
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return None
    body = json.dumps(webhook_body(alert), default=str).encode()
    sender = threading.Thread(target=_post, args=(url, body), daemon=True)
    sender.start()
    return sender


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 (an operator-configured URL)
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
            response.read(0)
    except Exception as exc:
        logger.error("alert webhook %s failed: %s", url.split("?")[0], exc)
