"""The console's JSON API: one endpoint per console button, with the same permission checks.

Session authentication with CSRF (`X-CSRFToken`) on POST, like the pages. Bodies are JSON
objects; errors are `{"error": code, "detail": text}`. See docs/api.md.
"""

import json
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from console import access, overview, scopes, search, services
from console.exceptions import ConsoleError
from delivery import replay
from delivery.exceptions import ReplayError
from delivery.models import ReplayRequest
from monitoring.models import Alert, VerificationRun


def _body(request: HttpRequest) -> dict[str, str]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise ConsoleError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ConsoleError("the body must be a JSON object")
    return {key: str(value) for key, value in data.items()}


def _error(exc: ConsoleError | ReplayError) -> JsonResponse:
    status = getattr(exc, "status", 400)
    return JsonResponse({"error": exc.code, "detail": str(exc)}, status=status)


def plan_json(plan: replay.ReplayPlan) -> dict[str, Any]:
    return {
        "scope": plan.scope,
        "detail": plan.detail,
        "events": len(plan.events),
        "threads": len(plan.thread_ids),
        "online_threads": plan.online_threads,
        "truncated": plan.truncated,
        "items": [
            {
                "thread": str(e.thread_id),
                "seq": e.seq,
                "event_id": str(e.event_id),
                "type": e.type,
                "state": e.status.state,
                "client_online": e.thread_id in plan.online,
            }
            for e in plan.events
        ],
    }


def replay_json(job: ReplayRequest) -> dict[str, Any]:
    return {
        "id": job.pk,
        "state": job.state,
        "actor": job.actor_name,
        "reason": job.reason,
        "ticket": job.ticket,
        "scope": job.scope,
        "scope_detail": job.scope_detail,
        "planned_events": job.planned_events,
        "planned_threads": job.planned_threads,
        "sent": job.sent,
        "failed": job.failed,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "outcomes": [
            {"thread": str(i.thread_id), "seq": i.seq, "outcome": i.outcome}
            for i in job.items.order_by("thread_id", "seq")[:5000]
        ],
    }


def run_json(run: VerificationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "trigger": run.trigger,
        "ok": run.ok,
        "finished": run.finished_at is not None,
        "checks": run.checks,
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    return {"id": alert.pk, "kind": alert.kind, "state": alert.state, "thread": alert.thread_id}


@require_GET
@access.console_api()
def overview_api(request: HttpRequest) -> HttpResponse:
    return JsonResponse(overview.as_json(overview.overview()))


@require_GET
@access.console_api()
def threads_api(request: HttpRequest) -> HttpResponse:
    try:
        flt = search.ThreadFilter.from_params(request.GET)
        result = search.thread_page(flt, cursor=request.GET.get("after", ""))
    except ConsoleError as exc:
        return _error(exc)
    rows = [
        {
            "id": str(t.pk),
            "owner": t.owner.get_username(),
            "health": t.health,
            "last_seq": t.last_seq,
            "open_events": t.open_count,
        }
        for t in result.threads
    ]
    return JsonResponse({"threads": rows, "next": result.next_cursor})


@require_POST
@access.console_api(access.REPLAY)
def dry_run_api(request: HttpRequest) -> HttpResponse:
    try:
        return JsonResponse(plan_json(scopes.plan_from(_body(request))))
    except (ConsoleError, ReplayError) as exc:
        return _error(exc)


@require_POST
@access.console_api(access.REPLAY)
def replay_api(request: HttpRequest) -> HttpResponse:
    try:
        body = _body(request)
        job = replay.request_replay(
            plan=scopes.plan_from(body),
            actor=request.user,
            reason=body.get("reason", ""),
            ticket=body.get("ticket", ""),
        )
    except (ConsoleError, ReplayError) as exc:
        return _error(exc)
    return JsonResponse(replay_json(job), status=202)


@require_GET
@access.console_api()
def replay_status_api(request: HttpRequest, replay_id: int) -> HttpResponse:
    job = ReplayRequest.objects.filter(pk=replay_id).first()
    if job is None:
        return JsonResponse({"error": "not_found", "detail": "no such replay"}, status=404)
    return JsonResponse(replay_json(job))


@require_POST
@access.console_api(access.REPLAY)
def cancel_api(request: HttpRequest, replay_id: int) -> HttpResponse:
    if not ReplayRequest.objects.filter(pk=replay_id).exists():
        return JsonResponse({"error": "not_found", "detail": "no such replay"}, status=404)
    return JsonResponse(replay_json(replay.cancel_replay(replay_id=replay_id, actor=request.user)))


@require_POST
@access.console_api(access.VERIFY)
def verification_api(request: HttpRequest) -> HttpResponse:
    return JsonResponse(run_json(services.start_verification()), status=202)


@require_GET
@access.console_api()
def verification_status_api(request: HttpRequest, run_id: int) -> HttpResponse:
    run = VerificationRun.objects.filter(pk=run_id).first()
    if run is None:
        return JsonResponse({"error": "not_found", "detail": "no such run"}, status=404)
    return JsonResponse(run_json(run))


@require_POST
@access.console_api(access.ALERTS)
def acknowledge_api(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        return JsonResponse(alert_json(services.acknowledge(alert_id=alert_id)))
    except ConsoleError as exc:
        return _error(exc)


@require_POST
@access.console_api(access.ALERTS)
def resolve_api(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        return JsonResponse(alert_json(services.resolve(alert_id=alert_id)))
    except ConsoleError as exc:
        return _error(exc)


@require_POST
@access.console_api(access.REVEAL)
def reveal_api(request: HttpRequest, event_id: uuid.UUID) -> HttpResponse:
    try:
        event, reveal = services.reveal_payload(event_id=event_id, actor=request.user)
    except ConsoleError as exc:
        return _error(exc)
    return JsonResponse(
        {"event_id": str(event.event_id), "payload": event.payload, "audit": reveal.pk}
    )
