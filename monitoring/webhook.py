"""The alert webhook's wire format: each POST to ALERT_WEBHOOK_URL is signed with HMAC-SHA256.

The signature covers `f"{timestamp}.{body}"`, the body being the exact bytes sent, and travels
as `X-Ledgerline-Signature: sha256=<hex>` next to `X-Ledgerline-Timestamp: <unix seconds>`. A
receiver recomputes it over the raw body with the shared ALERT_WEBHOOK_SECRET, compares in
constant time and refuses an old timestamp, so a forged or replayed alert is dropped
(`verify` below is that check; docs/security.md shows it for receivers).

`send_in_background` queues the POST as a Celery task that retries with exponential backoff
while the receiver is unreachable or failing, so whoever raised the alert never waits for it.
"""

import contextlib
import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.request

from celery import shared_task
from django.conf import settings
from django.core import checks

logger = logging.getLogger("monitoring.alerts")

TIMESTAMP_HEADER = "X-Ledgerline-Timestamp"
SIGNATURE_HEADER = "X-Ledgerline-Signature"
TIMEOUT = 3.0
# How old a timestamp `verify` accepts: long enough for clock skew and a slow network, short
# enough that a captured request cannot be replayed later.
TOLERANCE_SECONDS = 300


def check_secret(**kwargs: object) -> list[checks.CheckMessage]:
    """System check: a webhook URL needs a secret, or receivers could not tell our alerts from
    forged ones."""
    if settings.ALERT_WEBHOOK_URL and not settings.ALERT_WEBHOOK_SECRET:
        return [
            checks.Error(
                "ALERT_WEBHOOK_URL is set but ALERT_WEBHOOK_SECRET is not.",
                hint="Set ALERT_WEBHOOK_SECRET (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`) and give the same value to the receiver.",
                id="monitoring.E002",
            )
        ]
    return []


class WebhookUnavailable(Exception):
    """The receiver was unreachable, timed out or answered 5xx or 429: try again later."""


def sign(secret: str, timestamp: int, body: str) -> str:
    """The `X-Ledgerline-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str, *, timestamp: str, signature: str, body: str, now: float | None = None
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)


def signed_request(url: str, secret: str, body: str) -> urllib.request.Request:
    """A POST of `body`, signed now: a retry gets a fresh timestamp and signature."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    return urllib.request.Request(  # noqa: S310 (an operator-configured URL)
        url, data=body.encode(), headers=headers, method="POST"
    )


def deliver(body: str) -> int | None:
    """POST one alert body to ALERT_WEBHOOK_URL once, signed with ALERT_WEBHOOK_SECRET.

    Returns the receiver's status (None when no URL is configured). A 4xx is logged and not
    retried (the receiver refused this request and would refuse it again); unreachable, a
    timeout, 429 and 5xx raise WebhookUnavailable so the task tries again.
    """
    url, secret = settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET
    if not url:
        return None
    where = url.split("?")[0]
    try:
        with urllib.request.urlopen(  # noqa: S310
            signed_request(url, secret, body), timeout=TIMEOUT
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            logger.warning("alert webhook %s answered %s; will retry", where, error.code)
            raise WebhookUnavailable(f"HTTP {error.code}") from error
        logger.error("alert webhook %s refused the alert: HTTP %s", where, error.code)
        return error.code
    except (urllib.error.URLError, OSError) as error:  # refused, DNS, timeout
        logger.warning("alert webhook %s unreachable (%s); will retry", where, error)
        raise WebhookUnavailable(str(error)) from error


@shared_task(
    ignore_result=True,
    autoretry_for=(WebhookUnavailable,),
    max_retries=5,
    # 5, 10, 20, 40, 80 s, each jittered down: a receiver restarting or briefly overloaded
    # still gets the alert, within about 2.5 minutes, without every worker retrying in step.
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
)
def send_alert_webhook(body: str) -> int | None:
    """One signed attempt; Celery retries it on WebhookUnavailable (the worker's settings)."""
    return deliver(body)


def send_in_background(body: str) -> None:
    """Queue the alert's POST for a worker. Never raises, and never waits on the receiver.

    When the broker itself is down (the alert may well be about that), one signed attempt is
    made from a daemon thread instead, so the alert still has a chance to leave.
    """
    try:
        send_alert_webhook.apply_async((body,), retry=False)
    except Exception as exc:
        logger.error("alert webhook not queued (%s); one direct attempt instead", exc)
        threading.Thread(target=_deliver_once, args=(body,), daemon=True).start()


def _deliver_once(body: str) -> None:
    with contextlib.suppress(WebhookUnavailable):  # deliver() has logged it
        deliver(body)
