"""Collapsing the timeline: consecutive events of one type become one expandable run
("tool_executing x480, #12-#491, all acked" on the page), so a burst does not bury what
happened around it. Anything else between two events (a connect, a retry, an alert) ends a
run."""

from collections import Counter
from typing import Any

from delivery.ledger.selectors import EventState

RUN_MIN = 3  # fewer consecutive events of a type stay as they are


def _type_of(entry: Any) -> str | None:
    return entry.obj.type if entry.kind == "event" else None


def describe_states(counts: Counter[str], size: int) -> str:
    if len(counts) == 1:
        (state,) = counts
        return f"all {state}" if size > 1 else str(state)
    return ", ".join(f"{n} {state}" for state, n in counts.most_common())


def collapse(entries: list[Any], make_run: Any) -> list[Any]:
    """`entries` (newest first) with every run of RUN_MIN or more same-type events replaced by
    `make_run(members, extra)`. A run holding an event that is not acknowledged opens by
    default: what needs attention is never hidden."""
    result: list[Any] = []
    index = 0
    while index < len(entries):
        kind = _type_of(entries[index])
        end = index + 1
        while kind is not None and end < len(entries) and _type_of(entries[end]) == kind:
            end += 1
        members = entries[index:end]
        if len(members) < RUN_MIN:
            result += members
        else:
            states = Counter(str(m.obj.status.state) for m in members)
            seqs = [m.obj.seq for m in members]
            extra = {
                "type": kind,
                "count": len(members),
                "first": min(seqs),
                "last": max(seqs),
                "states": describe_states(states, len(members)),
                "open": any(s != EventState.ACKED for s in states),
                "members": members,
            }
            result.append(make_run(members, extra))
        index = end
    return result
