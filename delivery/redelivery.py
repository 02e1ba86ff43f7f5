"""Sending ledger events again: dropped tails now, unacknowledged events later (reconciler)."""

import logging
import uuid
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from delivery import connections, fanout
from delivery.models import UNACKED_STATES, Event, EventState, Trigger

logger = logging.getLogger(__name__)

BATCH = 500


def redeliver_pending(*, thread_id: uuid.UUID) -> bool:
    """Send the thread's `pending` events again as a retry, oldest first, in one message.

    Returns True when the layer took them for every live socket (they are then `sent`), False
    when it failed or dropped again, so the caller can back off and try later.
    """
    events = list(
        Event.objects.filter(thread_id=thread_id, state=EventState.PENDING).order_by("seq")[:BATCH]
    )
    if not events:
        return True
    return resend(
        thread_id=thread_id,
        events=events,
        detail="pending after a fast-path failure or channel_full drop",
    )


def resend(*, thread_id: uuid.UUID, events: Sequence[Event], detail: str) -> bool:
    """Send `events` (one thread, seq order) as a retry in one message and record the batch.

    On success each still-unacknowledged event becomes `sent` with one more attempt and one
    DeliveryAttempt(trigger=retry) row covers the batch. Returns False when the layer failed or
    dropped; nothing is written then, so the caller tries again later.
    """
    if not async_to_sync(fanout.apublish)(thread_id, events, trigger=Trigger.RETRY):
        return False
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
        trigger=Trigger.RETRY,
        from_seq=events[0].seq,
        to_seq=events[-1].seq,
        event_count=len(events),
        detail=detail,
    )
    return True
