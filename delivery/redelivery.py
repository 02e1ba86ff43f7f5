"""Sending ledger events again: dropped tails now, unacknowledged events later (reconciler)."""

import logging
import uuid

from asgiref.sync import async_to_sync
from django.db.models import F
from django.utils import timezone

from delivery import connections, fanout
from delivery.models import Event, EventState, Trigger

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
    if not async_to_sync(fanout.apublish)(thread_id, events, trigger=Trigger.RETRY):
        return False
    now = timezone.now()
    Event.objects.filter(pk__in=[e.pk for e in events], state=EventState.PENDING).update(
        state=EventState.SENT,
        first_sent_at=now,
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
        detail="pending after a fast-path failure or channel_full drop",
    )
    return True
