"""How console views answer: the whole page, or one of its partials when htmx asks."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from console.access import capabilities


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    stop_polling: bool = False,
    status: int = 200,
) -> HttpResponse:
    """Render `template`, or `template#partial` for htmx; 286 tells a poller to stop."""
    context = {**capabilities(request.user), **context}
    if not (request.htmx and partial):
        return render(request, template, context, status=status)
    html = render_to_string(f"{template}#{partial}", context, request=request)
    if stop_polling:
        return HttpResponseStopPolling(html)
    return HttpResponse(html, status=status)
