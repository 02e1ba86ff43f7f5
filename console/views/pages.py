"""Read pages: overview, thread search, thread timeline, and the audited payload reveal."""

import uuid

from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from console import access, overview, search, services, timeline
from console.exceptions import ConsoleError
from console.rendering import HtmxHttpRequest, page
from monitoring.health import Health

IDLE_POLLS_BEFORE_STOP = 12


@require_GET
@access.console_page()
def overview_page(request: HtmxHttpRequest) -> HttpResponse:
    """The overview polls itself; after IDLE_POLLS_BEFORE_STOP unchanged answers it stops (286)."""
    data = overview.overview()
    fingerprint = data.fingerprint()
    idle = _int(request.GET.get("idle", "0"))
    idle = idle + 1 if request.GET.get("fp") == fingerprint else 0
    paused = idle >= IDLE_POLLS_BEFORE_STOP
    context = {
        "o": data,
        "fingerprint": fingerprint,
        "idle": idle,
        "paused": paused,
        "spark_emitted": overview.sparkline_points(data.spark["emitted"]),
        "spark_undelivered": overview.sparkline_points(data.spark["undelivered"]),
        "health_order": [h.value for h in (Health.FAILING, Health.WAITING, Health.DEGRADED)]
        + [Health.HEALTHY.value],
    }
    return page(
        request,
        "console/overview.html",
        context,
        partial="live",
        stop_polling=paused,
    )


@require_GET
@access.console_page()
def thread_list(request: HtmxHttpRequest) -> HttpResponse:
    context: dict[str, object] = {"healths": [h.value for h in Health], "windows": search.WINDOWS}
    try:
        flt = search.ThreadFilter.from_params(request.GET)
        result = search.thread_page(flt, cursor=request.GET.get("after", ""))
    except ConsoleError as exc:
        context.update(flt=search.ThreadFilter(), error=str(exc), result=None)
        return page(request, "console/threads.html", context, partial="results", status=400)
    context.update(flt=flt, result=result)
    return page(request, "console/threads.html", context, partial="results")


@require_GET
@access.console_page()
def thread_detail(request: HtmxHttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    before = _int(request.GET.get("before", "0")) or None
    try:
        data = timeline.build(thread_id, before_seq=before)
    except ConsoleError as exc:
        return page(request, "console/error.html", {"error": str(exc)}, status=exc.status)
    return page(request, "console/thread.html", {"t": data}, partial="timeline")


@require_POST
@access.console_page(access.REVEAL)
def reveal(request: HtmxHttpRequest, event_id: uuid.UUID) -> HttpResponse:
    try:
        event, _ = services.reveal_payload(event_id=event_id, actor=request.user)
    except ConsoleError as exc:
        return page(request, "console/error.html", {"error": str(exc)}, status=exc.status)
    return page(request, "console/payload.html", {"event": event}, partial="payload")


def _int(value: str) -> int:
    try:
        return max(0, int(value))
    except ValueError:
        return 0
