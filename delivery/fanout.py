"""The fast path: after commit, one channel-layer message carries a batch of ledger events.

Only the emit and redelivery services call `publish`. The ledger already holds every event, so
a failure here is counted and logged, never raised into the agent.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone

from delivery import metrics
from delivery.models import Event, EventState, Trigger
from delivery.protocol import event_frame

logger = logging.getLogger(__name__)


def group_name(thread_id: uuid.UUID | str) -> str:
    """The one channel-layer group of a thread's live sockets."""
    return f"thread.{thread_id}"


def events_message(events: Sequence[Event], *, trigger: str) -> dict[str, Any]:
    replay = trigger == Trigger.REPLAY
    return {
        "type": "ledger.events",
        "trigger": trigger,
        "events": [event_frame(event, replay=replay) for event in events],
    }


async def apublish(thread_id: uuid.UUID, events: Sequence[Event], *, trigger: str) -> bool:
    """Send events to the thread's group. True when every live socket's channel took them."""
    layer = get_channel_layer()
    try:
        dropped = await layer.group_send(  # type: ignore[union-attr]
            group_name(thread_id), events_message(events, trigger=trigger)
        )
    except Exception:
        cause = "fast_path" if trigger == Trigger.LIVE else f"{trigger}_send"
        metrics.events_failed.labels(cause=cause).inc(len(events))
        logger.exception(
            "fast-path send failed for thread %s seq %s..%s; events stay pending",
            thread_id,
            events[0].seq,
            events[-1].seq,
        )
        return False
    if dropped:
        logger.warning(
            "channel layer dropped thread %s seq %s..%s for %s socket(s) (channel_full); "
            "left pending for immediate redelivery",
            thread_id,
            events[0].seq,
            events[-1].seq,
            dropped,
        )
        return False
    return True


def publish_live(thread_id: uuid.UUID, events: Sequence[Event]) -> None:
    """The on-commit fast path of `emit`: send, then mark the batch sent in one update.

    When the layer fails or drops, the events stay `pending` and a redelivery is queued at once:
    a dropped *last* event of a burst has no later event to reveal its gap.
    """
    if not async_to_sync(apublish)(thread_id, events, trigger=Trigger.LIVE):
        request_redelivery(thread_id)
        return
    now = timezone.now()
    try:
        Event.objects.filter(
            thread_id=thread_id,
            seq__gte=events[0].seq,
            seq__lte=events[-1].seq,
            state=EventState.PENDING,
        ).update(
            state=EventState.SENT, first_sent_at=now, last_sent_at=now, attempts=F("attempts") + 1
        )
    except DatabaseError:
        logger.exception(
            "could not mark thread %s events sent; the reconciler will resend", thread_id
        )


def request_redelivery(thread_id: uuid.UUID) -> None:
    from delivery.tasks import redeliver_pending

    try:
        redeliver_pending.apply_async((str(thread_id),), countdown=0.2, retry=False)
    except Exception:
        logger.exception("could not queue redelivery for thread %s; the reconciler will", thread_id)
