"""Replay pages: the dry run (a summary, the request form on top, every event paged below), the
request (reason required), its progress followed to the client's ack, cancel, and the audit."""

from datetime import timedelta

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from console import access, outcomes, pacing, recovery, scopes, selectors, services
from console.exceptions import ConsoleError
from console.models import PacedReplay
from console.rendering import HtmxHttpRequest, number_param, page, shows_errors, site_not_found
from delivery.models import ReplayRequest

AUDIT_PAGE = 50
ITEM_ROWS = 100
FOLLOW_ACKS = timedelta(minutes=10)


def _plan_context(request: HtmxHttpRequest, scoped: recovery.ScopedPlan) -> dict[str, object]:
    plan = scoped.plan
    return {
        "scoped": scoped,
        "plan": plan,
        "summary": recovery.summarize(plan),
        "rows": recovery.page_of(plan.events, number_param(request, "page", 1)),
        "fields": scopes.scope_params(plan),
        "event_states": recovery.EVENT_STATES,
        "paced": len(plan.events) > pacing.WAVE_EVENTS,
        "wave_events": pacing.WAVE_EVENTS,
        "wave_pause": pacing.WAVE_PAUSE,
        "query": request.GET.urlencode(),
    }


def _refused_plan(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    return page(request, "console/replay_plan.html", {"error": str(exc)}, status=exc.status)


def _refused_request(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    """The plan again, with why the replay was refused; only the why if it cannot be planned."""
    try:
        scoped = services.plan_replay(scope=request.POST)
    except ConsoleError:
        context: dict[str, object] = {"error": str(exc)}
    else:
        acked_ok = request.POST.get("acked_ok") == "1"
        context = {**_plan_context(request, scoped), "error": str(exc), "acked_ok": acked_ok}
    return page(request, "console/replay_plan.html", context, partial="plan", status=exc.status)


@require_GET
@access.console_page(access.REPLAY)
@shows_errors(_refused_plan)
def dry_run(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly what a replay would send: counts, threads and seq ranges, who is online, then
    every event, paged. Picking acknowledged events shows a warning first (`acked_ok=1`
    goes past it)."""
    scoped = services.plan_replay(scope=request.GET)
    context = _plan_context(request, scoped)
    context["acked_ok"] = request.GET.get("acked_ok") == "1"
    return page(request, "console/replay_plan.html", context, partial="plan")


@require_POST
@access.console_page(access.REPLAY)
@shows_errors(_refused_request)
def create(request: HtmxHttpRequest) -> HttpResponse:
    job = services.request_replay(
        scope=request.POST,
        actor=access.operator(request),
        reason=request.POST.get("reason", ""),
        ticket=request.POST.get("ticket", ""),
    )
    name = "console:paced" if isinstance(job, PacedReplay) else "console:replay"
    url = reverse(name, args=[job.pk])
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Location": url})
    return HttpResponseRedirect(url)


@require_GET
@access.console_page()
@shows_errors(site_not_found)
def detail(request: HtmxHttpRequest, replay_id: int) -> HttpResponse:
    """The replay's tally and a page of its events, each followed from the replay to the ack;
    the page polls until the job is done and every delivered event is acknowledged."""
    job = selectors.replay(replay_id=replay_id)
    rows = recovery.paging(job.planned_events, number_param(request, "page", 1), ITEM_ROWS)
    start = (rows.number - 1) * ITEM_ROWS
    items = selectors.replay_items(job, limit=ITEM_ROWS, offset=start)
    tally = outcomes.tally([job])
    settled = job.finished and (tally.acked >= tally.live + tally.queued or _long_ago(job))
    context = {
        "job": job,
        "tally": tally,
        "stories": outcomes.stories(job, items),
        "rows": rows,
        "settled": settled,
    }
    return page(request, "console/replay.html", context, partial="progress", stop_polling=settled)


def _long_ago(job: ReplayRequest) -> bool:
    """A finished replay is followed to its acks for FOLLOW_ACKS; then the page stops polling
    (a client that stays away acks nothing, and a reload follows it again)."""
    return job.finished_at is not None and timezone.now() - job.finished_at > FOLLOW_ACKS


@require_POST
@access.console_page(access.REPLAY)
@shows_errors(site_not_found)
def cancel(request: HtmxHttpRequest, replay_id: int) -> HttpResponse:
    services.cancel_replay(replay_id=replay_id, actor=access.operator(request))
    return HttpResponseRedirect(reverse("console:replay", args=[replay_id]))


@require_GET
@access.console_page()
@shows_errors(site_not_found)
def paced_detail(request: HtmxHttpRequest, paced_id: int) -> HttpResponse:
    """A paced replay's waves as they go out, and the tally over all of them."""
    paced = selectors.paced_replay(paced_id=paced_id)
    waves = list(pacing.wave_replays(paced))
    tally = outcomes.tally(waves)
    running = any(not w.finished for w in waves)
    settled = paced.finished and not running
    context = {"paced": paced, "waves": waves, "tally": tally, "settled": settled}
    context["wave_events"] = pacing.WAVE_EVENTS
    return page(request, "console/paced.html", context, partial="progress", stop_polling=settled)


@require_POST
@access.console_page(access.REPLAY)
@shows_errors(site_not_found)
def paced_cancel(request: HtmxHttpRequest, paced_id: int) -> HttpResponse:
    services.cancel_paced(paced_id=paced_id, actor=access.operator(request))
    return HttpResponseRedirect(reverse("console:paced", args=[paced_id]))


@require_GET
@access.console_page()
def audit(request: HtmxHttpRequest) -> HttpResponse:
    before = request.GET.get("before", "")
    older_than = int(before) if before.isdigit() else None
    found = selectors.replay_audit(before=older_than, size=AUDIT_PAGE)
    context = {"jobs": found.jobs, "more": found.more, "paced": selectors.paced_replays(limit=10)}
    return page(request, "console/replays.html", context)
