"""Turning a replay form or API body into a delivery.replay plan. The server always re-plans
from the scope; a client never sends a list of events."""

from collections.abc import Mapping

from console.search import ThreadFilter, matching_threads
from delivery import replay
from delivery.exceptions import ReplayError
from delivery.models import ReplayScope, Thread


def _int(params: Mapping[str, str], key: str) -> int:
    try:
        return int(params.get(key, ""))
    except ValueError:
        raise ReplayError(f"{key} must be a whole number") from None


def plan_from(params: Mapping[str, str]) -> replay.ReplayPlan:
    scope = params.get("scope", "")
    if scope == ReplayScope.EVENT:
        return replay.plan_event(event_id=params.get("event", ""))
    if scope == ReplayScope.RANGE:
        return replay.plan_range(
            thread_id=params.get("thread", ""),
            first=_int(params, "first"),
            last=_int(params, "last"),
        )
    if scope == ReplayScope.THREAD:
        thread_id = params.get("thread", "")
        thread = Thread.objects.filter(pk=replay.parse_id(thread_id)).first()
        if thread is None:
            raise ReplayError(f"no thread {thread_id}")
        return replay.plan_unacked(thread=thread, detail={"thread": thread_id})
    if scope == ReplayScope.FILTER:
        flt = ThreadFilter.from_params(params)
        if flt.is_empty:
            raise ReplayError("a bulk replay needs a search filter")
        return replay.plan_undelivered(threads=matching_threads(flt), detail=flt.as_params())
    raise ReplayError("scope must be event, range, thread or filter")


def scope_params(plan: replay.ReplayPlan) -> dict[str, str]:
    """The form fields that re-create `plan` (hidden inputs of the confirm form)."""
    return {"scope": plan.scope, **plan.detail}
