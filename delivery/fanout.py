"""The fast path: after commit, one channel-layer message carries a batch of ledger events.

Only the emit and redelivery services call `publish`. The ledger already holds every event, so
a failure here is counted and logged, never raised into the agent.
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer

from delivery import conf, metrics
from delivery.connections import GroupSend
from delivery.layers import GroupSendResult, LedgerRedisChannelLayer
from delivery.models import Event, Outcome, Trigger
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


async def apublish(
    thread_id: uuid.UUID,
    events: Sequence[Event],
    *,
    trigger: str,
    layer: BaseChannelLayer | None = None,
) -> Outcome:
    """Send events to the thread's group in one message and say what became of it."""
    layer = layer or get_channel_layer()
    try:
        result = await asyncio.wait_for(
            layer.group_send(group_name(thread_id), events_message(events, trigger=trigger)),  # type: ignore[union-attr]
            timeout=conf.timing("LAYER_SEND_TIMEOUT"),
        )
    except Exception:
        cause = "fast_path" if trigger == Trigger.LIVE else f"{trigger}_send"
        metrics.events_failed.labels(cause=cause).inc(len(events))
        logger.exception(
            "%s send failed for thread %s seq %s..%s; the events stay in the ledger",
            trigger,
            thread_id,
            events[0].seq,
            events[-1].seq,
        )
        return Outcome.FAILED
    return _outcome(thread_id, events, result)


async def apublish_many(
    batches: Sequence[tuple[uuid.UUID, Sequence[Event]]],
    *,
    trigger: str,
    layer: BaseChannelLayer | None = None,
) -> list[Outcome]:
    """`apublish` for many threads: one message each, all sent in a few pipelined round trips
    (`LedgerRedisChannelLayer.group_send_many`). Says what became of each thread's message."""
    layer = layer or get_channel_layer()
    if not isinstance(layer, LedgerRedisChannelLayer):
        return [await apublish(t, events, trigger=trigger, layer=layer) for t, events in batches]
    sends = [(group_name(t), events_message(events, trigger=trigger)) for t, events in batches]
    try:
        results = await asyncio.wait_for(
            layer.group_send_many(sends), timeout=conf.timing("LAYER_SEND_TIMEOUT")
        )
    except Exception:
        cause = "fast_path" if trigger == Trigger.LIVE else f"{trigger}_send"
        metrics.events_failed.labels(cause=cause).inc(sum(len(events) for _, events in batches))
        logger.exception(
            "%s send failed for %s thread(s); the events stay in the ledger", trigger, len(batches)
        )
        return [Outcome.FAILED] * len(batches)
    return [
        _outcome(t, events, result) for (t, events), result in zip(batches, results, strict=True)
    ]


def _outcome(thread_id: uuid.UUID, events: Sequence[Event], result: GroupSendResult) -> Outcome:
    if result.dropped:
        logger.warning(
            "channel layer dropped thread %s seq %s..%s for %s of %s socket(s) (channel_full); "
            "redelivering",
            thread_id,
            events[0].seq,
            events[-1].seq,
            result.dropped,
            result.channels,
        )
        return Outcome.DROPPED
    return Outcome.SENT if result.channels else Outcome.NO_LISTENERS


def settle_live(settled: Sequence[tuple[uuid.UUID, Sequence[Event], str]]) -> list[GroupSend]:
    """Act on a publisher round: what each thread's fast-path message became.

    Taken by every socket: nothing to write here, each socket records what it wrote. Nobody
    listening: the events wait for the client's resume. Dropped or failed: a redelivery of
    exactly that seq range is queued at once, because a dropped *last* event of a burst has no
    later event to reveal its gap. Returns those misses, to be recorded as attempts.
    """
    missed = []
    for thread_id, events, outcome in settled:
        if outcome in (Outcome.DROPPED, Outcome.FAILED):
            first, last = events[0].seq, events[-1].seq
            missed.append(GroupSend(thread_id, first, last, outcome))
            request_redelivery(thread_id, first, last)
    return missed


def request_redelivery(thread_id: uuid.UUID, first: int, last: int) -> None:
    from delivery.tasks import redeliver_range

    try:
        redeliver_range.apply_async((str(thread_id), first, last), countdown=0.2, retry=False)
    except Exception:
        logger.exception("could not queue redelivery for thread %s; the reconciler will", thread_id)
