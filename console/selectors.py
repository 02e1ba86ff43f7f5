"""Console reads shared by the pages and the JSON API: replays, paced replays, reveals,
verification runs and alerts. The overview, the charts, the thread search, the timeline and the
worker view have modules of their own."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from console.exceptions import NotFound
from console.models import ContentReveal, PacedReplay
from delivery.models import ApiKey, AuditedEvent, ReplayItem, ReplayRequest
from monitoring.models import CANARY_TRIGGER, Alert, AlertState, VerificationRun
from monitoring.verification import CHECKS

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class ItemEventType(TypedDict):
    event_type: str


class RevealedEvent(TypedDict):
    event_type: str
    event_seq: int | None


if TYPE_CHECKING:
    TypedReplayItem = WithAnnotations[ReplayItem, ItemEventType]
    TypedReveal = WithAnnotations[ContentReveal, RevealedEvent]


@dataclass
class AuditPage:
    jobs: list[ReplayRequest]
    more: int | None  # the `before` of the next page, if there is one


def replay(*, replay_id: int) -> ReplayRequest:
    job = ReplayRequest.objects.filter(pk=replay_id).first()
    if job is None:
        raise NotFound("no such replay")
    return job


def paced_replay(*, paced_id: int) -> PacedReplay:
    paced = PacedReplay.objects.filter(pk=paced_id).first()
    if paced is None:
        raise NotFound("no such paced replay")
    return paced


def _audited(field: str) -> Subquery:
    return Subquery(AuditedEvent.objects.filter(event_id=OuterRef("event_id")).values(field)[:1])


def replay_items(job: ReplayRequest, *, limit: int, offset: int = 0) -> "list[TypedReplayItem]":
    """A replay's items in thread and seq order, `limit` from `offset`, each with its event's
    type and its thread's watermarks. The type comes from the audited copy, which outlives
    retention ("" if there is none)."""
    items = job.items.select_related("thread").annotate(
        event_type=Coalesce(_audited("type"), Value(""))
    )
    return list(items.order_by("thread_id", "seq")[offset : offset + limit])


def replay_outcomes(job: ReplayRequest, *, limit: int) -> list[ReplayItem]:
    """A replay's first `limit` items in thread and seq order, with what became of each."""
    return list(job.items.select_related("thread").order_by("thread_id", "seq")[:limit])


def replay_audit(*, before: int | None, size: int) -> AuditPage:
    """Replay requests newest first, `size` to a page, those older than id `before` if given."""
    jobs = ReplayRequest.objects.order_by("-pk")
    if before is not None:
        jobs = jobs.filter(pk__lt=before)
    rows = list(jobs[: size + 1])
    more = rows[size - 1].pk if len(rows) > size else None
    return AuditPage(jobs=rows[:size], more=more)


def paced_replays(*, limit: int) -> list[PacedReplay]:
    return list(PacedReplay.objects.defer("waves").order_by("-pk")[:limit])


@dataclass
class RevealPage:
    reveals: "list[TypedReveal]"
    more: int | None


def reveals(*, before: int | None, size: int) -> RevealPage:
    """Every content reveal, newest first: who, when, why, and which event (type and seq from
    its audited copy)."""
    rows_qs = ContentReveal.objects.annotate(
        event_type=Coalesce(_audited("type"), Value("")), event_seq=_audited("seq")
    ).order_by("-pk")
    if before is not None:
        rows_qs = rows_qs.filter(pk__lt=before)
    rows = list(rows_qs[: size + 1])
    more = rows[size - 1].pk if len(rows) > size else None
    return RevealPage(reveals=rows[:size], more=more)


def verification_runs(*, canary: bool, limit: int) -> list[VerificationRun]:
    """Full verification runs, or the canary's runs, newest first."""
    runs = VerificationRun.objects.order_by("-started_at")
    runs = runs.filter(trigger=CANARY_TRIGGER) if canary else runs.exclude(trigger=CANARY_TRIGGER)
    return list(runs[:limit])


def verification_run(*, run_id: int) -> VerificationRun:
    run = VerificationRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound("no such run")
    return run


def planned_checks() -> list[str]:
    """The checks a verification run goes through, in order (the page lists those pending)."""
    return [name for name, _ in CHECKS]


def alerts(*, state: str, limit: int) -> list[Alert]:
    """The newest `limit` alerts, only those in `state` if it is an alert state."""
    rows = Alert.objects.select_related("thread").order_by("-last_seen")
    if state in AlertState.values:
        rows = rows.filter(state=state)
    return list(rows[:limit])


def api_keys() -> list[ApiKey]:
    """Every service key, the live ones first, newest first."""
    return list(ApiKey.objects.order_by("revoked_at", "-created_at")[:200])
