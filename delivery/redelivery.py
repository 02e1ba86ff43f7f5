"""Sending ledger events again: dropped ranges now, pending and unacknowledged ones later."""

import logging
import uuid
from collections.abc import Sequence

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from delivery import connections
from delivery.fanout import Outcome
from delivery.models import UNACKED_STATES, Event, EventState, Trigger
from delivery.publisher import publisher

logger = logging.getLogger(__name__)

BATCH = 500


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
    if not events:
        return True
    outcome = publisher.send(thread_id, events, trigger=trigger)
    if outcome in (Outcome.DROPPED, Outcome.FAILED):
        return False
    if outcome is Outcome.DELIVERED:
        # Each still-unacknowledged event becomes `sent` with one more attempt: the
        # reconciler's backoff and retry budget count these.
        now = timezone.now()
        Event.objects.filter(pk__in=[e.pk for e in events], state__in=UNACKED_STATES).update(
            state=EventState.SENT,
            first_sent_at=Coalesce(F("first_sent_at"), now),
            last_sent_at=now,
            attempts=F("attempts") + 1,
        )
        connections.record_attempt(
            thread_id=thread_id,
            connection_id=None,
            trigger=trigger,
            from_seq=events[0].seq,
            to_seq=events[-1].seq,
            event_count=len(events),
            detail=detail,
        )
    return True
