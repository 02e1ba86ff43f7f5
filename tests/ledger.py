"""Test helpers for the derived ledger state: read an event's state as the console does, and
write sends and acks through the same statements the live path uses."""

from datetime import datetime

from django.utils import timezone

from delivery.ledger.progress import Progress, record_progress
from delivery.ledger.selectors import EventStatus, event_statuses
from delivery.models import DeliveryAttempt, Outcome, Thread, Trigger


def statuses(thread: Thread) -> dict[int, EventStatus]:
    thread.refresh_from_db()
    return event_statuses(thread=thread, seqs=list(range(1, thread.last_seq + 1)))


def states(thread: Thread) -> dict[int, str]:
    """Every seq of the thread and its derived state."""
    return {seq: status.state for seq, status in statuses(thread).items()}


def status_of(thread: Thread, seq: int) -> EventStatus:
    thread.refresh_from_db()
    return event_statuses(thread=thread, seqs=[seq])[seq]


def ack(thread: Thread, upto: int, *, connection_id=None, at: datetime | None = None) -> int:
    """A client's cumulative ack, written by the live path's own statement."""
    return record_progress([Progress(thread.id, connection_id, [], 0, upto, at or timezone.now())])


def sent(
    thread: Thread,
    first: int,
    last: int,
    *,
    connection=None,
    trigger: str = Trigger.LIVE,
    outcome: str = Outcome.SENT,
    at: datetime | None = None,
) -> DeliveryAttempt:
    """An attempt row: frames `first..last` sent (to `connection`, or to the thread's group)."""
    return DeliveryAttempt.objects.create(
        thread=thread,
        connection=connection,
        trigger=trigger,
        first_seq=first,
        last_seq=last,
        outcome=outcome,
        created_at=at or timezone.now(),
    )
