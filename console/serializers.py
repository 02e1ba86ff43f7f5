"""The JSON shapes of the console's API (docs/api.md): one function per record."""

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from console import outcomes, pacing, recovery, selectors
from console.charts import Chart
from console.models import ContentReveal, PacedReplay
from console.workers import WorkerView
from delivery.models import ReplayRequest
from monitoring.models import Alert, VerificationRun

if TYPE_CHECKING:
    from console.search import ListedThread

OUTCOME_ROWS = 5000


def plan_json(scoped: recovery.ScopedPlan) -> dict[str, Any]:
    plan = scoped.plan
    summary = recovery.summarize(plan, thread_rows=len(plan.thread_ids))
    return {
        "scope": plan.scope,
        "detail": plan.detail,
        "states": list(scoped.states),
        "left_out": scoped.left_out,
        "events": len(plan.events),
        "threads": len(plan.thread_ids),
        "online_threads": plan.online_threads,
        "truncated": plan.truncated,
        "paced": len(plan.events) > pacing.WAVE_EVENTS,
        "by_type": dict(summary.by_type),
        "by_state": dict(summary.by_state),
        "thread_ranges": [
            {"thread": str(t.thread_id), "owner": t.owner, "seqs": t.ranges, "online": t.online}
            for t in summary.threads
        ],
        "items": [
            {
                "thread": str(e.thread_id),
                "seq": e.seq,
                "event_id": str(e.event_id),
                "type": e.type,
                "state": recovery.state_of(e),
                "client_online": e.thread_id in plan.online,
            }
            for e in plan.events
        ],
    }


def tally_json(tally: outcomes.Tally) -> dict[str, int]:
    return {
        "planned": tally.planned,
        "delivered_live": tally.live,
        "queued_for_next_connect": tally.queued,
        "failed": tally.failed,
        "cancelled": tally.cancelled,
        "acked": tally.acked,
        "sockets": tally.sockets,
    }


def replay_json(job: ReplayRequest) -> dict[str, Any]:
    items = selectors.replay_outcomes(job, limit=OUTCOME_ROWS)
    return {
        "kind": "replay",
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
        "tally": tally_json(outcomes.tally([job])),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "outcomes": [
            {
                "thread": str(s.item.thread_id),
                "seq": s.item.seq,
                "outcome": s.item.outcome,
                "sockets": s.sockets,
                "acked": s.acked,
                "said": s.said(),
            }
            for s in outcomes.stories(job, items)
        ],
    }


def paced_json(paced: PacedReplay) -> dict[str, Any]:
    waves = list(pacing.wave_replays(paced))
    return {
        "kind": "paced",
        "id": paced.pk,
        "state": paced.state,
        "actor": paced.actor_name,
        "reason": paced.reason,
        "ticket": paced.ticket,
        "scope": paced.scope,
        "scope_detail": paced.scope_detail,
        "planned_events": paced.planned_events,
        "planned_threads": paced.planned_threads,
        "waves": paced.wave_count,
        "waves_sent": paced.next_wave,
        "pause": paced.pause,
        "skipped_acked": paced.skipped,
        "replays": [{"id": w.pk, "state": w.state} for w in waves],
        "tally": tally_json(outcomes.tally(waves)),
        "created_at": paced.created_at.isoformat(),
        "finished_at": paced.finished_at.isoformat() if paced.finished_at else None,
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
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "state": alert.state,
        "thread": alert.thread_id,
        "acknowledged_by": alert.acknowledged_by or None,
        "acknowledge_note": alert.acknowledge_note,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolved_by": alert.resolved_by or ("Ledgerline" if alert.resolved_at else None),
        "resolve_note": alert.resolve_note,
        "cause": alert.cause,
    }


def thread_json(thread: "ListedThread") -> dict[str, Any]:
    return {
        "id": str(thread.pk),
        "owner": thread.owner.get_username(),
        "title": thread.title,
        "health": thread.health,
        "last_seq": thread.last_seq,
        "open_events": thread.open_count,
    }


def reveal_json(
    reveal: ContentReveal, *, event_type: str = "", seq: int | None = None
) -> dict[str, Any]:
    return {
        "id": reveal.pk,
        "actor": reveal.actor_name,
        "at": reveal.revealed_at.isoformat(),
        "reason": reveal.reason,
        "event_id": str(reveal.event_id),
        "thread": str(reveal.thread_id),
        "type": event_type,
        "seq": seq,
    }


def chart_json(chart: Chart) -> dict[str, Any]:
    return {
        "title": chart.title,
        "unit": chart.unit,
        "series": {s.name: s.values for s in chart.series},
        "buckets": len(chart.series[0].values),
    }


def workers_json(view: WorkerView) -> dict[str, Any]:
    return {
        "workers": [
            {
                **asdict(w),
                "heartbeat_at": w.heartbeat_at.isoformat() if w.heartbeat_at else None,
                "active": [
                    {
                        "name": t.name,
                        "id": t.id,
                        "started": t.started.isoformat() if t.started else None,
                    }
                    for t in w.active
                ],
            }
            for w in view.workers
        ],
        "queues": [{"name": name, "depth": depth} for name, depth in view.queues],
        "error": view.error or None,
    }
