"""What the reconciler does with one live thread: heal the sockets that lack events, retry
an overdue head with backoff, or give it up; and when to look at the thread again.

Decisions are read from the thread's watermarks and the attempt ranges covering its head
(delivery/repair/reconcile.py reads them under its claim); nothing here writes.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from delivery import conf
from delivery.models import Outcome, Trigger

BATCH = 500  # events per message
MAX_BACKOFF = 6  # retries wait ACK_DEADLINE * 2^n, n at most this
# A thread with nothing to do is looked at again after this, or as soon as it gets an event.
RECHECK = timedelta(hours=1)


class Sent(NamedTuple):
    trigger: str
    group: bool  # a message to the thread's group, not frames a socket wrote
    outcome: str
    at: datetime
    first: int
    last: int

    def covers(self, seq: int) -> bool:
        return self.first <= seq <= self.last


@dataclass
class ThreadState:
    """One live thread's delivery, read under its claim."""

    id: uuid.UUID
    acked: int
    last: int
    lost_upto: int  # the highest seq of an open undelivered range, or 0
    least: int  # the lowest position of its live sockets
    most: int  # the highest sent watermark of its live sockets
    unsent_since: datetime | None
    attempts: list[Sent] = field(default_factory=list)

    @property
    def head(self) -> int:
        """The first seq still owed: above the acked watermark and any range given up on."""
        return max(self.acked, self.lost_upto) + 1

    @property
    def unsent(self) -> int:
        """The first seq some live socket was never sent."""
        return max(self.least, self.head - 1) + 1


@dataclass
class Plan:
    heal: list[tuple[ThreadState, int, int]] = field(default_factory=list)
    retry: list[tuple[ThreadState, int, int]] = field(default_factory=list)
    give_up: list[tuple[ThreadState, int, int]] = field(default_factory=list)
    check_after: dict[uuid.UUID, datetime] = field(default_factory=dict)


def plan(states: list[ThreadState], now: datetime) -> Plan:
    """What to do with each thread, and when each needs another look."""
    decided = Plan()
    for state in states:
        decided.check_after[state.id] = min(_heal(state, now, decided), _retry(state, now, decided))
    return decided


def _heal(state: ThreadState, now: datetime, plan: Plan) -> datetime:
    """Heal when some live socket lacks events older than the grace; returns when the thread
    needs another look for this reason."""
    grace = timedelta(seconds=pending_grace())
    unsent = state.unsent
    if unsent > state.last or state.unsent_since is None:
        return now + RECHECK
    if any(a.group and a.at >= now - grace and a.covers(unsent) for a in state.attempts):
        return now + grace  # a heal or retry just went out: give the sockets time to write it
    if state.unsent_since >= now - grace:
        return state.unsent_since + grace
    plan.heal.append((state, unsent, min(state.last, unsent + BATCH - 1)))
    return now + grace


def _retry(state: ThreadState, now: datetime, plan: Plan) -> datetime:
    """Retry the head once its ack is overdue, or give it up after RETRY_BUDGET sends; returns
    when the thread needs another look for this reason."""
    deadline, budget = conf.current().ack_deadline, conf.current().retry_budget
    head = [a for a in state.attempts if a.covers(state.head)]
    sends = [a for a in head if a.outcome == Outcome.SENT]
    if not sends:
        return _retry_unrecorded(state, now, plan, head)
    replayed = max((a.at for a in head if a.trigger == Trigger.REPLAY), default=None)
    retries = sum(
        1
        for a in sends
        if a.trigger == Trigger.RETRY and a.group and (replayed is None or a.at > replayed)
    )
    due = max(a.at for a in sends) + timedelta(seconds=deadline * 2 ** min(retries, MAX_BACKOFF))
    if due >= now:
        return due
    if retries + 1 >= budget:
        upto = max(state.most, *(a.last for a in sends))
        plan.give_up.append((state, state.head, min(max(upto, state.head), state.last)))
        return now + RECHECK
    plan.retry.append((state, state.head, min(state.last, state.head + BATCH - 1)))
    return now + timedelta(seconds=deadline * 2 ** min(retries + 1, MAX_BACKOFF))


def _retry_unrecorded(state: ThreadState, now: datetime, plan: Plan, head: list[Sent]) -> datetime:
    """The head was never sent as far as the ledger knows. A socket that lacks it gets a heal;
    one that claims to have it (it resumed past it, after its server died before writing down
    the send) gets a retry, which writes it and lets the client ack it."""
    grace = timedelta(seconds=pending_grace())
    if state.head > state.least:
        return now + RECHECK
    if any(a.group and a.at >= now - grace for a in head):
        return now + grace
    plan.retry.append((state, state.head, min(state.last, state.head + BATCH - 1)))
    return now + timedelta(seconds=conf.current().ack_deadline)


def pending_grace() -> float:
    """Seconds an unsent event may wait before the reconciler sends it: its fast path may
    still be on the wire, and a socket's sends reach the ledger once per flush interval."""
    return 2 * conf.current().ack_flush_interval + 0.5
