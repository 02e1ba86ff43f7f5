"""Sending ledger events again: a dropped range at once, overdue and unsent ones later.

Every send here is one channel-layer message per thread and one attempt row per message, with
its trigger and outcome; the sockets that wrote the frames record their own rows. No event row
is touched.
"""

import logging
import uuid
from collections.abc import Sequence

from django.utils import timezone

from delivery.fastpath import fanout
from delivery.fastpath.fanout import GroupSend
from delivery.fastpath.publisher import publisher
from delivery.ledger import progress, selectors
from delivery.models import Event, Outcome, Trigger

logger = logging.getLogger(__name__)

BATCH = 500
Batch = tuple[uuid.UUID, Sequence[Event]]


def redeliver_range(*, thread_id: uuid.UUID, first: int, last: int) -> bool:
    """Send seqs `first..last` again after the layer dropped them for some socket. It goes out
    as a `heal`: each socket writes only the frames it has not written, so the sockets that did
    take the first message get nothing twice.

    Returns False when the layer failed or dropped again, so the caller can back off.
    """
    for start in range(first, last + 1, BATCH):
        end = min(last, start + BATCH - 1)
        events = list(selectors.events_between(thread_id=thread_id, first=start, last=end))
        took = resend_many(
            [(thread_id, events)], trigger=Trigger.HEAL, detail="channel_full drop or failure"
        )
        if not took[0]:
            return False
    return True


def resend_many(
    batches: Sequence[Batch], *, detail: str, trigger: str = Trigger.RETRY
) -> list[bool]:
    """One message per thread, all sent together, then one INSERT of an attempt row per
    message with what became of it.

    Returns, per batch, False when the layer failed or dropped it, so the caller can back off.
    Nobody listening counts as done: the events wait in the ledger for the client's resume.
    """
    to_send = [(thread_id, events) for thread_id, events in batches if events]
    sent_at = timezone.now()
    outcomes = (
        publisher.call(fanout.apublish_many(to_send, trigger=trigger, layer=publisher.layer))
        if to_send
        else []
    )
    progress.record_group_sends(
        trigger=trigger,
        detail=detail,
        at=sent_at,
        sends=[
            GroupSend(thread_id, events[0].seq, events[-1].seq, outcome)
            for (thread_id, events), outcome in zip(to_send, outcomes, strict=True)
        ],
    )
    took = iter([outcome not in (Outcome.DROPPED, Outcome.FAILED) for outcome in outcomes])
    # An empty batch has nothing to send, so it is done.
    return [next(took) if events else True for _, events in batches]
