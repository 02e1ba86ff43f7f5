"""What became of a replay, read from the ledger rather than from the job's own counters: how
many sockets wrote each replayed event, whether an absent client got it on reconnect, and
whether the client has acknowledged it since. A replay shows whether it worked."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from delivery.models import (
    AckRange,
    DeliveryAttempt,
    ReplayItem,
    ReplayOutcome,
    ReplayRequest,
    Trigger,
)

# A socket writes a replayed frame moments after the job's send; this bounds "moments".
WRITE_GRACE = timedelta(seconds=10)
LATER_SENDS = (Trigger.RESUME, Trigger.POLL, Trigger.RETRY, Trigger.HEAL, Trigger.LIVE)


@dataclass
class Tally:
    """A replay's (or a paced replay's) events by what became of them."""

    planned: int = 0
    live: int = 0
    queued: int = 0
    failed: int = 0
    cancelled: int = 0
    acked: int = 0
    sockets: int = 0

    @property
    def total(self) -> int:
        return self.planned + self.live + self.queued + self.failed + self.cancelled

    @property
    def done(self) -> int:
        return self.total - self.planned


def tally(jobs: list[ReplayRequest]) -> Tally:
    """Counts over the jobs' items (one query), and the sockets that wrote their replayed
    frames (one more)."""
    if not jobs:
        return Tally()
    items = ReplayItem.objects.filter(replay__in=jobs)
    counts = items.aggregate(
        planned=Count("pk", filter=Q(outcome=ReplayOutcome.PLANNED)),
        live=Count("pk", filter=Q(outcome=ReplayOutcome.SENT_LIVE)),
        queued=Count("pk", filter=Q(outcome=ReplayOutcome.ON_NEXT_CONNECT)),
        failed=Count("pk", filter=Q(outcome=ReplayOutcome.FAILED)),
        cancelled=Count("pk", filter=Q(outcome=ReplayOutcome.CANCELLED)),
        acked=Count("pk", filter=Q(seq__lte=F("thread__acked_seq"))),
    )
    start, end = _window(jobs)
    writes = DeliveryAttempt.objects.filter(
        thread_id__in=items.values("thread_id"),
        trigger=Trigger.REPLAY,
        connection__isnull=False,
        created_at__gte=start,
        created_at__lte=end,
    )
    return Tally(**counts, sockets=writes.values("connection_id").distinct().count())


def _window(jobs: list[ReplayRequest]) -> tuple[datetime, datetime]:
    start = min(j.started_at or j.created_at for j in jobs)
    ends = [j.finished_at for j in jobs]
    end = max(e for e in ends if e) if all(ends) else timezone.now()
    return start, end + WRITE_GRACE


@dataclass
class ItemStory:
    item: ReplayItem
    sockets: int = 0  # distinct sockets that wrote it as a replay
    later_at: datetime | None = None  # first send after the replay, e.g. on reconnect
    acked_at: datetime | None = None
    acked: bool = False

    def said(self) -> str:
        """What happened, then what followed: e.g. "queued for next connect → delivered on
        reconnect 12:00:59 → acked 12:01:00"."""
        outcome = self.item.outcome
        if outcome == ReplayOutcome.SENT_LIVE:
            steps = [f"delivered live to {self.sockets} socket{'s' if self.sockets != 1 else ''}"]
            if not self.sockets:
                steps = ["sent while a socket was live, but none wrote it"]
        elif outcome == ReplayOutcome.ON_NEXT_CONNECT:
            steps = ["queued for next connect"]
            if self.later_at:
                steps.append(f"delivered on reconnect {self.later_at:%H:%M:%S}")
        else:
            steps = [str(dict(ReplayOutcome.choices).get(outcome, outcome))]
        if self.acked:
            when = f" {self.acked_at:%H:%M:%S}" if self.acked_at else ""
            steps.append(f"acked{when}")
        elif outcome in (ReplayOutcome.SENT_LIVE, ReplayOutcome.ON_NEXT_CONNECT):
            steps.append("not acked yet")
        return " → ".join(steps)


def stories(job: ReplayRequest, items: Sequence[ReplayItem]) -> list[ItemStory]:
    """Each item of a page of `job`'s items, followed in the ledger: three reads for the page
    (the threads' watermarks come with the items)."""
    if not items:
        return []
    threads = {i.thread_id for i in items}
    low, high = min(i.seq for i in items), max(i.seq for i in items)
    start, end = _window([job])
    sends = list(
        DeliveryAttempt.objects.filter(
            thread_id__in=threads,
            connection__isnull=False,
            created_at__gte=start,
            last_seq__gte=low,
            first_seq__lte=high,
        ).order_by("created_at")
    )
    acks = list(AckRange.objects.filter(thread_id__in=threads, upto__gte=low, above__lt=high))
    return [_story(item, sends, acks, end) for item in items]


def _story(
    item: ReplayItem, sends: list[DeliveryAttempt], acks: list[AckRange], end: datetime
) -> ItemStory:
    covering = [
        s for s in sends if s.thread_id == item.thread_id and s.first_seq <= item.seq <= s.last_seq
    ]
    replayed = {
        s.connection_id for s in covering if s.trigger == Trigger.REPLAY and s.created_at <= end
    }
    done = item.done_at or end
    later = next(
        (s.created_at for s in covering if s.trigger in LATER_SENDS and s.created_at >= done),
        None,
    )
    ack = next(
        (a for a in acks if a.thread_id == item.thread_id and a.above < item.seq <= a.upto), None
    )
    acked = item.seq <= item.thread.acked_seq
    return ItemStory(item, len(replayed), later, ack.acked_at if ack and acked else None, acked)
