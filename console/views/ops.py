"""Verification history (full runs and the canary apart) and runs, the alerts list with
acknowledge and resolve, and the worker view."""

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console import access, selectors, services, workers
from console.rendering import HtmxHttpRequest, error_page, page, shows_errors, site_not_found
from monitoring.models import Alert, AlertState
from monitoring.readiness import readiness

HISTORY = 30
ALERT_ROWS = 100


@require_GET
@access.console_page()
def verification(request: HtmxHttpRequest) -> HttpResponse:
    """Full verification runs by default; `?kind=canary` lists the canary's runs."""
    canary = request.GET.get("kind") == "canary"
    runs = selectors.verification_runs(canary=canary, limit=HISTORY)
    context = {"runs": runs, "canary": canary, "readiness": readiness()}
    return page(request, "console/verification.html", context)


@require_GET
@access.console_page()
@shows_errors(site_not_found)
def verification_run(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = selectors.verification_run(run_id=run_id)
    context = {"run": run, "planned": selectors.planned_checks()}
    finished = run.finished_at is not None
    return page(
        request, "console/verification_run.html", context, partial="run", stop_polling=finished
    )


@require_POST
@access.console_page(access.VERIFY)
def run_verification(request: HtmxHttpRequest) -> HttpResponse:
    run = services.start_verification()
    return HttpResponseRedirect(reverse("console:verification-run", args=[run.pk]))


@require_GET
@access.console_page()
def alerts(request: HtmxHttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    rows = selectors.alerts(state=state, limit=ALERT_ROWS)
    context = {"alerts": rows, "state": state, "states": AlertState.values}
    return page(request, "console/alerts.html", context)


def _alert_row(request: HtmxHttpRequest, alert: Alert) -> HttpResponse:
    """htmx swaps in the changed row; a plain form post goes back to the list."""
    if request.htmx:
        return page(request, "console/alerts.html", {"alert": alert}, partial="row")
    return HttpResponseRedirect(reverse("console:alerts"))


@require_POST
@access.console_page(access.ALERTS)
@shows_errors(error_page)
def acknowledge_alert(request: HtmxHttpRequest, alert_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    alert = services.acknowledge(alert_id=alert_id, actor=access.operator(request), note=note)
    return _alert_row(request, alert)


@require_POST
@access.console_page(access.ALERTS)
@shows_errors(error_page)
def resolve_alert(request: HtmxHttpRequest, alert_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    alert = services.resolve_alert(alert_id=alert_id, actor=access.operator(request), note=note)
    return _alert_row(request, alert)


@require_GET
@access.console_page()
def worker_view(request: HtmxHttpRequest) -> HttpResponse:
    """Workers, their tasks, queue depths and heartbeats; the panel refreshes while visible."""
    return page(request, "console/workers.html", {"w": workers.snapshot()}, partial="workers")
