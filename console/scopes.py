"""Turning a replay form or API body into a plan. The server always re-plans from the scope; a
client never sends a list of events. Only console.services calls this: it also turns
delivery's refusals into the console's.

Every scope takes `states`, the derived event states to replay. By default a replay never
includes acknowledged events: a search ("filter") replays its undelivered events, the other
scopes every event not acknowledged. Acknowledged ones only when `states` names them.
"""

from collections.abc import Mapping

from console import recovery
from console.exceptions import BadFilter, ReplayRefused
from console.search import ThreadFilter
from delivery.ledger.selectors import EventState
from delivery.models import ReplayScope, Thread
from delivery.repair import replay
from delivery.text import CODE

SEARCH_DEFAULT = (EventState.UNDELIVERED,)


def _int(params: Mapping[str, str], key: str) -> int:
    try:
        return int(params.get(key, ""))
    except ValueError:
        raise ReplayRefused(f"{key} must be a whole number") from None


def _states(params: Mapping[str, str], default: tuple[str, ...]) -> tuple[str, ...]:
    unknown = recovery.unknown_states(params)
    if unknown:
        known = ", ".join(recovery.EVENT_STATES)
        raise ReplayRefused(f"unknown event state {sorted(unknown)[0]!r}: use {known}")
    return recovery.parse_states(params, default)


def _delivery_plan(scope: str, params: Mapping[str, str]) -> replay.ReplayPlan:
    if scope == ReplayScope.EVENT:
        return replay.plan_event(event_id=params.get("event", ""))
    if scope == ReplayScope.RANGE:
        return replay.plan_range(
            thread_id=params.get("thread", ""),
            first=_int(params, "first"),
            last=_int(params, "last"),
        )
    thread_id = params.get("thread", "")
    thread = Thread.objects.filter(pk=replay.parse_id(thread_id)).first()
    if thread is None:
        raise ReplayRefused(f"no thread {thread_id}")
    return replay.plan_unacked(thread=thread, detail={"thread": thread_id})


def plan_from(params: Mapping[str, str]) -> recovery.ScopedPlan:
    scope = params.get("scope", "")
    if scope == ReplayScope.FILTER:
        try:
            flt = ThreadFilter.from_params(params)
        except BadFilter as exc:
            refused = ReplayRefused(str(exc))
            refused.code = exc.code if exc.code == CODE else refused.code
            raise refused from None
        if flt.is_empty:
            raise ReplayRefused("a bulk replay needs a search filter")
        return recovery.plan_search(flt, _states(params, SEARCH_DEFAULT))
    if scope in (ReplayScope.EVENT, ReplayScope.RANGE, ReplayScope.THREAD):
        plan = _delivery_plan(scope, params)
        return recovery.narrow(plan, _states(params, recovery.UNACKED))
    raise ReplayRefused("scope must be event, range, thread or filter")


def scope_params(plan: replay.ReplayPlan) -> dict[str, str]:
    """The form fields that re-create `plan` (hidden inputs of the confirm form)."""
    return {"scope": plan.scope, **plan.detail}
