"""The fast path: after commit, one channel-layer message carries a batch of ledger events.

Only the emit and redelivery services call `publish`. The ledger already holds every event, so
a failure here is counted and logged, never raised into the agent.
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from channels.layers import BaseChannelLayer, get_channel_layer

from delivery import conf, metrics
from delivery.fastpath.droplog import drop_log
from delivery.fastpath.frames import events_message, group_name
from delivery.fastpath.layers import GroupSendResult, LedgerRedisChannelLayer
from delivery.models import Event, Outcome, Trigger

logger = logging.getLogger(__name__)


class GroupSend(NamedTuple):
    """One message to a thread's group covering seqs `first..last`, and what became of it."""

    thread_id: uuid.UUID
    first: int
    last: int
    outcome: Outcome


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
            timeout=conf.current().layer_send_timeout,
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
    cause = "fast_path" if trigger == Trigger.LIVE else f"{trigger}_send"
    try:
        # Each layer host within the send timeout: one down or slow shard fails only the
        # threads it holds.
        results = await layer.group_send_many(sends, host_seconds=conf.current().layer_send_timeout)
    except Exception:
        metrics.events_failed.labels(cause=cause).inc(sum(len(events) for _, events in batches))
        logger.exception(
            "%s send failed for %s thread(s); the events stay in the ledger", trigger, len(batches)
        )
        return [Outcome.FAILED] * len(batches)
    failed = [(t, events) for (t, events), result in zip(batches, results, strict=True)
              if result.failed]  # fmt: skip
    if failed:
        metrics.events_failed.labels(cause=cause).inc(sum(len(events) for _, events in failed))
        logger.error(
            "%s send failed for %s of %s thread(s) (a channel layer host is down); the events "
            "stay in the ledger", trigger, len(failed), len(batches),
        )  # fmt: skip
    return [
        _outcome(t, events, result) for (t, events), result in zip(batches, results, strict=True)
    ]


def _outcome(thread_id: uuid.UUID, events: Sequence[Event], result: GroupSendResult) -> Outcome:
    if result.failed:
        return Outcome.FAILED
    if result.dropped:
        drop_log.add(thread_id=thread_id, events=len(events), sockets=result.dropped)
        return Outcome.DROPPED
    return Outcome.SENT if result.channels else Outcome.NO_LISTENERS


def settle_live(settled: Sequence[tuple[uuid.UUID, Sequence[Event], str]]) -> list[GroupSend]:
    """What a publisher round could not deliver: the dropped or failed thread messages.

    Taken by every socket: nothing to write, each socket records what it wrote. Nobody
    listening: the events wait for the client's resume. The misses go to the caller, which
    records them and queues their redelivery (`delivery.signals.fast_path_missed`).
    """
    return [
        GroupSend(thread_id, events[0].seq, events[-1].seq, Outcome(outcome))
        for thread_id, events, outcome in settled
        if outcome in (Outcome.DROPPED, Outcome.FAILED)
    ]
