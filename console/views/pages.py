"""Read pages: overview with its charts, thread search, and the thread timeline."""

import uuid

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from console import access, charts, overview, search, timeline
from console.exceptions import ConsoleError
from console.rendering import HtmxHttpRequest, error_page, number_param, page, shows_errors
from monitoring.health import Health

IDLE_POLLS_BEFORE_STOP = 12


@require_GET
@access.console_page()
def overview_page(request: HtmxHttpRequest) -> HttpResponse:
    """The overview polls itself; after IDLE_POLLS_BEFORE_STOP unchanged answers it stops (286)."""
    data = overview.overview()
    span = request.GET.get("span", "2h")
    span = span if span in charts.SPANS else "2h"
    fingerprint = data.fingerprint()
    idle = number_param(request, "idle")
    idle = idle + 1 if request.GET.get("fp") == fingerprint else 0
    paused = idle >= IDLE_POLLS_BEFORE_STOP
    context = {
        "o": data,
        "fingerprint": fingerprint,
        "idle": idle,
        "paused": paused,
        "span": span,
        "spans": list(charts.SPANS),
        "charts": [charts.success_rate(span), charts.latency(span)],
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


def _search_form() -> dict[str, object]:
    return {
        "healths": [h.value for h in Health],
        "windows": search.WINDOWS,
        "states": search.STATES,
        "known_types": timeline.KNOWN_TYPES,
    }


def _bad_search(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    """The results panel says what is wrong with the filter, above an empty form."""
    context = {**_search_form(), "flt": search.ThreadFilter(), "error": str(exc), "result": None}
    return page(request, "console/threads.html", context, partial="results", status=exc.status)


@require_GET
@access.console_page()
@shows_errors(_bad_search)
def thread_list(request: HtmxHttpRequest) -> HttpResponse:
    """Search results; a query naming exactly one thread opens it (`list=1` keeps the list)."""
    flt = search.ThreadFilter.from_params(request.GET)
    cursor = request.GET.get("after", "")
    result = search.thread_page(flt, cursor=cursor)
    hit = None if request.GET.get("list") else search.exact_hit(flt, result, cursor=cursor)
    if hit is not None:
        url = reverse("console:thread", args=[hit.thread_id])
        url += f"#seq-{hit.seq}" if hit.seq else ""
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": url})
        return HttpResponseRedirect(url)
    context = {**_search_form(), "flt": flt, "result": result}
    return page(request, "console/threads.html", context, partial="results")


@require_GET
@access.console_page()
@shows_errors(error_page)
def thread_detail(request: HtmxHttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    before = number_param(request, "before") or None
    flt = timeline.EventFilter.from_params(request.GET)
    data = timeline.build(thread_id, before_seq=before, flt=flt)
    context = {"t": data, "states": timeline.STATE_FILTERS}
    return page(request, "console/thread.html", context, partial="timeline")
