"""Message content: the audited reveal (a reason required, the payload shown as JSON) and the
Reveals page listing every reveal."""

import json
import uuid

from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from console import access, selectors, services
from console.exceptions import ConsoleError
from console.rendering import HtmxHttpRequest, page, shows_errors

REVEALS_PAGE = 50


def payload_json(payload: object) -> str:
    """The payload as readable JSON: indented, keys sorted, non-ASCII text as it is."""
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _refused(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    """The reveal form again, saying why (a reason is missing), in place of the form."""
    context = {"error": str(exc), "event_id": request.resolver_match.kwargs.get("event_id")}  # type: ignore[union-attr]
    return page(request, "console/payload.html", context, partial="payload", status=exc.status)


@require_POST
@access.console_page(access.REVEAL)
@shows_errors(_refused)
def reveal(request: HtmxHttpRequest, event_id: uuid.UUID) -> HttpResponse:
    event, audit = services.reveal_payload(
        event_id=event_id, actor=access.operator(request), reason=request.POST.get("reason", "")
    )
    context = {"event": event, "event_id": event.event_id, "audit": audit}
    context["payload_json"] = payload_json(event.payload)
    return page(request, "console/payload.html", context, partial="payload")


@require_GET
@access.console_page()
def reveals(request: HtmxHttpRequest) -> HttpResponse:
    before = request.GET.get("before", "")
    found = selectors.reveals(before=int(before) if before.isdigit() else None, size=REVEALS_PAGE)
    return page(request, "console/reveals.html", {"reveals": found.reveals, "more": found.more})
