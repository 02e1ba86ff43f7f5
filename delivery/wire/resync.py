"""Where a client's copy of a thread stands against the ledger: pure decisions, no I/O.

The socket (`ThreadConsumer`) and the long poll (`delivery.wire.api`) both ask these, so a
client hears the same `resync` for the same position whichever transport it is on. Like the
browser's `step` (delivery/static/delivery/machine.js), each answer is data the caller acts on.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

AHEAD_OF_LEDGER = "ahead_of_ledger"  # the client claims seqs the ledger never had
RETENTION = "retention"  # the seqs existed but were pruned


@dataclass(frozen=True)
class Resync:
    """Seqs `after + 1 .. to` will never arrive; the client moves its position to `to`."""

    after: int
    to: int
    reason: str

    def fields(self) -> dict[str, Any]:
        """As a poll page carries it (`resync` in docs/protocol.md)."""
        return {"from": self.after, "to": self.to, "reason": self.reason}

    def frame(self) -> dict[str, Any]:
        """As a socket sends it."""
        return {"type": "resync", **self.fields()}


@dataclass(frozen=True)
class Resume:
    """Send the ledger's seqs `after + 1 .. last`, after telling the client `resync`."""

    after: int
    last: int
    resync: Resync | None = None


def plan_resume(*, after: int, last: int, first_retained: int | None) -> Resume:
    """A client at `after` (re)joins a thread whose ledger holds up to `last`, of which
    `first_retained` is the oldest seq still kept (None: nothing is)."""
    if after > last:
        return Resume(last, last, Resync(last, after, AHEAD_OF_LEDGER))
    first = first_retained if first_retained is not None else last + 1
    if first > after + 1:
        return Resume(first - 1, last, Resync(after, first - 1, RETENTION))
    return Resume(after, last)


def healed_short(*, after: int, last: int, sent: int) -> Resync | None:
    """A heal of `after + 1 .. last` found only `sent` events: the rest were pruned."""
    if sent < last - after:
        return Resync(after, last, RETENTION)
    return None


@dataclass(frozen=True)
class Heal:
    """Fill the client's gap from the ledger, up to and including `last`, first."""

    last: int


@dataclass(frozen=True)
class Write:
    """Write these frames: each is the next seq the client lacks."""

    frames: list[dict[str, Any]]


@dataclass
class LivePlan:
    steps: list[Heal | Write] = field(default_factory=list)
    duplicates: int = 0


def plan_live(*, position: int, frames: Sequence[dict[str, Any]]) -> LivePlan:
    """A run of a thread's event frames reached a socket whose client holds up to `position`.

    Seqs at or below what the client has are duplicates and dropped. A seq beyond the next
    one reveals a gap: heal it from the ledger, then write on, so the client never sees a
    seq out of order.
    """
    plan, fresh = LivePlan(), list[dict[str, Any]]()
    for frame in frames:
        seq = frame["seq"]
        expected = fresh[-1]["seq"] + 1 if fresh else position + 1
        if seq < expected:
            plan.duplicates += 1
            continue
        if seq > expected:
            if fresh:
                plan.steps.append(Write(fresh))
            plan.steps.append(Heal(seq - 1))
            fresh = []
        fresh.append(frame)
    if fresh:
        plan.steps.append(Write(fresh))
    return plan
