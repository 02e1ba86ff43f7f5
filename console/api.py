"""The console's JSON API: one endpoint per console button, with the same permission checks.

Session authentication with CSRF (`X-CSRFToken`) on POST, like the pages. Bodies are JSON
objects; errors are `{"error": code, "detail": text}`, answered by `access.console_api` for
every console error an endpoint raises. Shapes are in console/serializers.py; see docs/api.md.
"""

import json
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from console import access, charts, overview, search, selectors, services, workers
from console import serializers as shapes
from console.exceptions import BadBody
from console.models import PacedReplay

REVEALS_PAGE = 100


def _body(request: HttpRequest) -> dict[str, str]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise BadBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadBody("the body must be a JSON object")
    return {key: str(value) for key, value in data.items()}


@require_GET
@access.console_api()
def overview_api(request: HttpRequest) -> HttpResponse:
    return JsonResponse(overview.as_json(overview.overview()))


@require_GET
@access.console_api()
def charts_api(request: HttpRequest) -> HttpResponse:
    span = request.GET.get("span", "2h")
    span = span if span in charts.SPANS else "2h"
    found = [charts.success_rate(span), charts.latency(span)]
    return JsonResponse({"span": span, "charts": [shapes.chart_json(c) for c in found]})


@require_GET
@access.console_api()
def workers_api(request: HttpRequest) -> HttpResponse:
    return JsonResponse(shapes.workers_json(workers.snapshot()))


@require_GET
@access.console_api()
def threads_api(request: HttpRequest) -> HttpResponse:
    flt = search.ThreadFilter.from_params(request.GET)
    cursor = request.GET.get("after", "")
    result = search.thread_page(flt, cursor=cursor)
    hit = search.exact_hit(flt, result, cursor=cursor)
    rows = [shapes.thread_json(thread) for thread in result.threads]
    exact = {"thread": str(hit.thread_id), "seq": hit.seq} if hit else None
    return JsonResponse({"threads": rows, "next": result.next_cursor, "exact": exact})


@require_POST
@access.console_api(access.REPLAY)
def dry_run_api(request: HttpRequest) -> HttpResponse:
    return JsonResponse(shapes.plan_json(services.plan_replay(scope=_body(request))))


@require_POST
@access.console_api(access.REPLAY)
def replay_api(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    job = services.request_replay(
        scope=body,
        actor=access.operator(request),
        reason=body.get("reason", ""),
        ticket=body.get("ticket", ""),
    )
    if isinstance(job, PacedReplay):
        return JsonResponse(shapes.paced_json(job), status=202)
    return JsonResponse(shapes.replay_json(job), status=202)


@require_GET
@access.console_api()
def replay_status_api(request: HttpRequest, replay_id: int) -> HttpResponse:
    return JsonResponse(shapes.replay_json(selectors.replay(replay_id=replay_id)))


@require_POST
@access.console_api(access.REPLAY)
def cancel_api(request: HttpRequest, replay_id: int) -> HttpResponse:
    job = services.cancel_replay(replay_id=replay_id, actor=access.operator(request))
    return JsonResponse(shapes.replay_json(job))


@require_GET
@access.console_api()
def paced_status_api(request: HttpRequest, paced_id: int) -> HttpResponse:
    return JsonResponse(shapes.paced_json(selectors.paced_replay(paced_id=paced_id)))


@require_POST
@access.console_api(access.REPLAY)
def paced_cancel_api(request: HttpRequest, paced_id: int) -> HttpResponse:
    paced = services.cancel_paced(paced_id=paced_id, actor=access.operator(request))
    return JsonResponse(shapes.paced_json(paced))


@require_POST
@access.console_api(access.VERIFY)
def verification_api(request: HttpRequest) -> HttpResponse:
    return JsonResponse(shapes.run_json(services.start_verification()), status=202)


@require_GET
@access.console_api()
def verification_status_api(request: HttpRequest, run_id: int) -> HttpResponse:
    return JsonResponse(shapes.run_json(selectors.verification_run(run_id=run_id)))


@require_POST
@access.console_api(access.ALERTS)
def acknowledge_api(request: HttpRequest, alert_id: int) -> HttpResponse:
    note = _body(request).get("note", "")
    alert = services.acknowledge(alert_id=alert_id, actor=access.operator(request), note=note)
    return JsonResponse(shapes.alert_json(alert))


@require_POST
@access.console_api(access.ALERTS)
def resolve_api(request: HttpRequest, alert_id: int) -> HttpResponse:
    note = _body(request).get("note", "")
    alert = services.resolve_alert(alert_id=alert_id, actor=access.operator(request), note=note)
    return JsonResponse(shapes.alert_json(alert))


@require_POST
@access.console_api(access.REVEAL)
def reveal_api(request: HttpRequest, event_id: uuid.UUID) -> HttpResponse:
    reason = _body(request).get("reason", "")
    event, reveal = services.reveal_payload(
        event_id=event_id, actor=access.operator(request), reason=reason
    )
    return JsonResponse(
        {"event_id": str(event.event_id), "payload": event.payload, "audit": reveal.pk}
    )


@require_GET
@access.console_api()
def reveals_api(request: HttpRequest) -> HttpResponse:
    before = request.GET.get("before", "")
    found = selectors.reveals(before=int(before) if before.isdigit() else None, size=REVEALS_PAGE)
    rows = [shapes.reveal_json(r, event_type=r.event_type, seq=r.event_seq) for r in found.reveals]
    return JsonResponse({"reveals": rows, "next": found.more})
