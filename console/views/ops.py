"""Verification history and runs, and the alerts list with acknowledge and resolve."""

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console import access, services
from console.exceptions import ConsoleError
from console.rendering import HtmxHttpRequest, page
from monitoring.models import Alert, AlertState, VerificationRun

HISTORY = 30
ALERT_ROWS = 100


@require_GET
@access.console_page()
def verification(request: HtmxHttpRequest) -> HttpResponse:
    runs = list(VerificationRun.objects.order_by("-started_at")[:HISTORY])
    return page(request, "console/verification.html", {"runs": runs})


@require_GET
@access.console_page()
def verification_run(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(VerificationRun, pk=run_id)
    context = {"run": run, "planned": services.planned_checks()}
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
    rows = Alert.objects.select_related("thread").order_by("-last_seen")
    if state in AlertState.values:
        rows = rows.filter(state=state)
    context = {"alerts": list(rows[:ALERT_ROWS]), "state": state, "states": AlertState.values}
    return page(request, "console/alerts.html", context)


def _alert_action(request: HtmxHttpRequest, alert_id: int, action: str) -> HttpResponse:
    try:
        alert = getattr(services, action)(alert_id=alert_id)
    except ConsoleError as exc:
        return page(request, "console/error.html", {"error": str(exc)}, status=exc.status)
    if request.htmx:
        return page(request, "console/alerts.html", {"alert": alert}, partial="row")
    return HttpResponseRedirect(reverse("console:alerts"))


@require_POST
@access.console_page(access.ALERTS)
def acknowledge_alert(request: HtmxHttpRequest, alert_id: int) -> HttpResponse:
    return _alert_action(request, alert_id, "acknowledge")


@require_POST
@access.console_page(access.ALERTS)
def resolve_alert(request: HtmxHttpRequest, alert_id: int) -> HttpResponse:
    return _alert_action(request, alert_id, "resolve")
