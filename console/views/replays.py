"""Replay pages: the dry run, the request (reason required), its live progress, cancel, audit."""

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console import access, scopes
from console.exceptions import ConsoleError
from console.rendering import HtmxHttpRequest, page
from delivery import replay
from delivery.exceptions import ReplayError
from delivery.models import AuditedEvent, ReplayRequest

AUDIT_PAGE = 50


@require_GET
@access.console_page(access.REPLAY)
def dry_run(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly what a replay would send, per thread, and who is online to get it now."""
    try:
        plan = scopes.plan_from(request.GET)
    except (ReplayError, ConsoleError) as exc:
        return page(request, "console/replay_plan.html", {"error": str(exc)}, status=400)
    return page(request, "console/replay_plan.html", _plan_context(plan), partial="plan")


def _plan_context(plan: replay.ReplayPlan, **extra: object) -> dict[str, object]:
    threads: dict[object, list[object]] = {}
    for event in plan.events:
        threads.setdefault(event.thread_id, []).append(event)
    return {
        "plan": plan,
        "by_thread": [(tid, evs, tid in plan.online) for tid, evs in threads.items()],
        "fields": scopes.scope_params(plan),
        **extra,
    }


@require_POST
@access.console_page(access.REPLAY)
def create(request: HtmxHttpRequest) -> HttpResponse:
    try:
        plan = scopes.plan_from(request.POST)
        job = replay.request_replay(
            plan=plan,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            ticket=request.POST.get("ticket", ""),
        )
    except (ReplayError, ConsoleError) as exc:
        try:
            context = _plan_context(scopes.plan_from(request.POST), error=str(exc))
        except (ReplayError, ConsoleError):
            context = {"error": str(exc)}
        return page(request, "console/replay_plan.html", context, partial="plan", status=400)
    url = reverse("console:replay", args=[job.pk])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Location"] = url
        return response
    return HttpResponseRedirect(url)


@require_GET
@access.console_page()
def detail(request: HtmxHttpRequest, replay_id: int) -> HttpResponse:
    job = get_object_or_404(ReplayRequest, pk=replay_id)
    items = list(job.items.order_by("thread_id", "seq")[:500])
    types = dict(
        AuditedEvent.objects.filter(event_id__in=[i.event_id for i in items]).values_list(
            "event_id", "type"
        )
    )
    for item in items:
        item.event_type = types.get(item.event_id, "")  # type: ignore[attr-defined]
    context = {"job": job, "items": items}
    return page(
        request, "console/replay.html", context, partial="progress", stop_polling=job.finished
    )


@require_POST
@access.console_page(access.REPLAY)
def cancel(request: HtmxHttpRequest, replay_id: int) -> HttpResponse:
    get_object_or_404(ReplayRequest, pk=replay_id)
    replay.cancel_replay(replay_id=replay_id, actor=request.user)
    return HttpResponseRedirect(reverse("console:replay", args=[replay_id]))


@require_GET
@access.console_page()
def audit(request: HtmxHttpRequest) -> HttpResponse:
    jobs = ReplayRequest.objects.order_by("-pk")
    before = request.GET.get("before", "")
    if before.isdigit():
        jobs = jobs.filter(pk__lt=int(before))
    rows = list(jobs[: AUDIT_PAGE + 1])
    more = rows[AUDIT_PAGE - 1].pk if len(rows) > AUDIT_PAGE else None
    return page(request, "console/replays.html", {"jobs": rows[:AUDIT_PAGE], "more": more})
