"""How console views answer: the whole page, or one of its partials when htmx asks; and how a
page shows the console errors its actions and reads raise."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from console.access import View, capabilities
from console.exceptions import ConsoleError, NotFound


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# Renders a console error where the page shows it: a fragment, a page, or the site's 404.
ErrorView = Callable[[HtmxHttpRequest, ConsoleError], HttpResponse]


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


def error_page(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    """The console's error page, with the error's status."""
    return page(request, "console/error.html", {"error": str(exc)}, status=exc.status)


def site_not_found(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    """The site's own 404 for a URL naming a record that is not there, as on any other page;
    other errors get the console's error page."""
    if isinstance(exc, NotFound):
        raise Http404(str(exc)) from exc
    return error_page(request, exc)


def shows_errors(error_view: ErrorView) -> Callable[[View], View]:
    """Answer the console errors a view raises with `error_view`: the one place pages catch
    them, so a view only says what it does when all goes well."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except ConsoleError as exc:
                return error_view(request, exc)

        return wrapped

    return decorator


def number_param(request: HttpRequest, name: str, default: int = 0) -> int:
    """A whole-number query parameter, never below 0 (`default` if missing or not a number)."""
    try:
        return max(0, int(request.GET.get(name, "")))
    except ValueError:
        return default
