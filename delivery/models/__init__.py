"""The ledger. Events are written once and never updated; delivery is kept as positions.

- `Event` rows are append-only: one INSERT each, in a table partitioned by day
  (`delivery/ledger/partitions.py`); an UPDATE is refused by the database.
- `Thread.acked_seq` and each `Connection`'s `sent_seq` / `acked_seq` are watermarks, the way
  Kafka keeps a consumer group's offsets.
- `DeliveryAttempt` (a send of a seq range), `AckRange` (the thread's ack watermark moving from
  `above` to `upto` at a time) and `UndeliveredRange` (a range given up on, with its cause) are
  ranges, one row per send round, ack flush or verdict, never one per event.

An event's state (committed, sent, acked, undelivered) is derived from these
(`delivery.ledger.selectors.event_statuses`).
"""

from delivery.models.ledger import Connection, ConnectionState, Event, Thread, Transport
from delivery.models.operations import (
    FINISHED_REPLAY_STATES,
    AccessToken,
    ReconcilerHeartbeat,
    ReplayItem,
    ReplayOutcome,
    ReplayRequest,
    ReplayScope,
    ReplayState,
)
from delivery.models.publishing import ApiKey, KeyScope, Publication
from delivery.models.records import (
    AckRange,
    AuditedEvent,
    DeliveryAttempt,
    Outcome,
    Trigger,
    UndeliveredRange,
)

__all__ = [
    "FINISHED_REPLAY_STATES",
    "AccessToken",
    "AckRange",
    "ApiKey",
    "AuditedEvent",
    "Connection",
    "ConnectionState",
    "DeliveryAttempt",
    "Event",
    "KeyScope",
    "Outcome",
    "Publication",
    "ReconcilerHeartbeat",
    "ReplayItem",
    "ReplayOutcome",
    "ReplayRequest",
    "ReplayScope",
    "ReplayState",
    "Thread",
    "Transport",
    "Trigger",
    "UndeliveredRange",
]
