"""What the fast path carries: a thread's group, and the event frames a socket writes as-is."""

import uuid
from collections.abc import Sequence
from typing import Any

from delivery.models import Event, Trigger


def group_name(thread_id: uuid.UUID | str) -> str:
    """The one channel-layer group of a thread's live sockets."""
    return f"thread.{thread_id}"


def event_frame(event: Event, *, replay: bool = False) -> dict[str, Any]:
    """An event as the client receives it (docs/protocol.md, `event`)."""
    return {
        "type": "event",
        "seq": event.seq,
        "id": str(event.event_id),
        "event": event.type,
        "payload": event.payload,
        "ts": event.created_at.isoformat(),
        "replay": replay,
    }


def events_message(events: Sequence[Event], *, trigger: str) -> dict[str, Any]:
    """One channel-layer message for a run of a thread's events, in seq order."""
    replay = trigger == Trigger.REPLAY
    return {
        "type": "ledger.events",
        "trigger": trigger,
        "events": [event_frame(event, replay=replay) for event in events],
    }
