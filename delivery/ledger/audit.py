"""Copies of audited events. Retention drops whole days of the ledger; an event that a replay
or a content reveal names is copied here first, so the audit stays answerable after its
partition is gone."""

import uuid
from collections.abc import Iterable

from delivery.models import AuditedEvent, Event

# What an audited copy keeps of its event: all of it.
COPIED = ("event_id", "thread_id", "seq", "type", "payload", "critical", "created_at")


def _fields(row: Event | AuditedEvent) -> dict[str, object]:
    return {name: getattr(row, name) for name in COPIED}


def preserve(events: Iterable[Event]) -> None:
    """Copy `events` into AuditedEvent (once: a copy that exists is kept as it is)."""
    AuditedEvent.objects.bulk_create(
        (AuditedEvent(**_fields(event)) for event in events), ignore_conflicts=True
    )


def find_event(event_id: uuid.UUID) -> Event | None:
    """The event, from the ledger or, once retention dropped it, from its audited copy."""
    event = Event.objects.filter(event_id=event_id).first()
    if event is not None:
        return event
    copy = AuditedEvent.objects.filter(event_id=event_id).first()
    return as_event(copy) if copy is not None else None


def as_event(copy: AuditedEvent) -> Event:
    return Event(**_fields(copy))
