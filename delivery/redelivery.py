"""Sending ledger events again: dropped ranges now, pending and unacknowledged ones later."""

import logging
import uuid
from collections.abc import Sequence

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from delivery import connections, fanout
from delivery.fanout import Outcome
from delivery.models import UNACKED_STATES, Event, EventState, Trigger
from delivery.publisher import publisher

logger = logging.getLogger(__name__)

BATCH = 500
Batch = tuple[uuid.UUID, Sequence[Event]]


def redeliver_range(*, thread_id: uuid.UUID, first: int, last: int) -> bool:
    """Send seqs `first..last` again as a retry, whatever their state: some socket missed them.

    Returns False when the layer failed or dropped again, so the caller can back off.
    """
    for start in range(first, last + 1, BATCH):
        end = min(last, start + BATCH - 1)
        events = list(
            Event.objects.filter(thread_id=thread_id, seq__gte=start, seq__lte=end).order_by("seq")
        )
        if not resend(thread_id=thread_id, events=events, detail="channel_full drop or failure"):
            return False
    return True


def redeliver_pending(*, thread_id: uuid.UUID) -> bool:
    """Send the thread's `pending` events again as a retry, oldest first, in one message."""
    events = list(
        Event.objects.filter(thread_id=thread_id, state=EventState.PENDING).order_by("seq")[:BATCH]
    )
    return resend(thread_id=thread_id, events=events, detail="pending")


def resend(
    *, thread_id: uuid.UUID, events: Sequence[Event], detail: str, trigger: str = Trigger.RETRY
) -> bool:
    """One channel-layer message with `events`, recorded as a DeliveryAttempt when it went out.

    Nobody listening counts as done: the events wait in the ledger for the client's resume.
    """
    return resend_many([(thread_id, events)], detail=detail, trigger=trigger)[0]


def resend_many(
    batches: Sequence[Batch], *, detail: str, trigger: str = Trigger.RETRY
) -> list[bool]:
    """`resend` for many threads at once: one message per thread, all sent together, then one
    ledger update and one DeliveryAttempt insert for every thread whose message went out.

    Returns, per batch, False when the layer failed or dropped it, so the caller can back off.
    """
    to_send = [(thread_id, events) for thread_id, events in batches if events]
    outcomes = (
        publisher.call(fanout.apublish_many(to_send, trigger=trigger, layer=publisher.layer))
        if to_send
        else []
    )
    delivered = [
        batch
        for batch, outcome in zip(to_send, outcomes, strict=True)
        if outcome is Outcome.DELIVERED
    ]
    if delivered:
        _record_delivered(delivered, detail=detail, trigger=trigger)
    took = iter([outcome not in (Outcome.DROPPED, Outcome.FAILED) for outcome in outcomes])
    # An empty batch has nothing to send, so it is done, as `resend` always said.
    return [next(took) if events else True for _, events in batches]


def _record_delivered(batches: Sequence[Batch], *, detail: str, trigger: str) -> None:
    # Each still-unacknowledged event becomes `sent` with one more attempt: the reconciler's
    # backoff and retry budget count these.
    now = timezone.now()
    pks = [event.pk for _, events in batches for event in events]
    Event.objects.filter(pk__in=pks, state__in=UNACKED_STATES).update(
        state=EventState.SENT,
        first_sent_at=Coalesce(F("first_sent_at"), now),
        last_sent_at=now,
        attempts=F("attempts") + 1,
    )
    connections.record_attempts(
        trigger=trigger,
        detail=detail,
        ranges=[(t, events[0].seq, events[-1].seq, len(events)) for t, events in batches],
    )
