"""`/healthz/live`, `/healthz/ready` and `/metrics`. Thin: the logic is in selectors/collectors."""

import hmac
import ipaddress
import os

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from monitoring.metrics import LedgerCollector
from monitoring.readiness import readiness


@require_GET
@never_cache
def live(request: HttpRequest) -> HttpResponse:
    """The process is up and serving requests. Nothing else is checked."""
    return JsonResponse({"status": "live"})


@require_GET
@never_cache
def ready(request: HttpRequest) -> HttpResponse:
    """200 while the last full verification passed and no canary failed since; 503 before the
    first one, after a failure, and while the ledger database cannot be read (a 500 page would
    say nothing about why). monitoring/readiness.py has the rule."""
    try:
        state = readiness()
    except DatabaseError:
        return JsonResponse({"status": "failing", "detail": "database unavailable"}, status=503)
    body: dict[str, object] = {"status": state.status, "detail": state.detail}
    full, canary = state.verification, state.canary
    if full is not None:
        body.update(
            verification=full.pk,
            trigger=full.trigger,
            at=full.started_at.isoformat(),
            failed_checks=full.failed_checks,
        )
    if canary is not None:
        body["canary"] = {"run": canary.pk, "ok": canary.ok, "at": canary.started_at.isoformat()}
    return JsonResponse(body, status=200 if state.ready else 503)


def _allowed(request: HttpRequest) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        if hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
            return None
        return HttpResponse("bearer token required\n", status=401, content_type="text/plain")
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return HttpResponse(
        "loopback only (set METRICS_TOKEN)\n", status=403, content_type="text/plain"
    )


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: process counters (merged across processes) + ledger gauges."""
    refused = _allowed(request)
    if refused is not None:
        return refused
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    ledger = CollectorRegistry()
    ledger.register(LedgerCollector())
    body = generate_latest(registry) + generate_latest(ledger)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
