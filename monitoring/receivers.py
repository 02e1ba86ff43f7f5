"""Monitoring subscribes to the delivery core's hooks: delivery never imports monitoring."""

import uuid
from typing import Any

from django.dispatch import receiver

from delivery import signals
from monitoring.alerts import raise_alert


@receiver(signals.event_undelivered, dispatch_uid="monitoring.undelivered")
def alert_on_undelivered(
    sender: Any, *, thread_id: uuid.UUID, first: int, last: int, cause: str, **kwargs: Any
) -> None:
    raise_alert(
        kind="undelivered",
        thread_id=thread_id,
        summary=f"{last - first + 1} event(s) undelivered (seq {first}..{last}): {cause}",
        context={"first": first, "last": last, "cause": cause, "kind": "unacked"},
    )


@receiver(signals.run_timed_out, dispatch_uid="monitoring.run_timed_out")
def alert_on_stalled_run(
    sender: Any, *, thread_id: uuid.UUID, run_id: str | None, event: Any, **kwargs: Any
) -> None:
    raise_alert(
        kind="stalled_run",
        thread_id=thread_id,
        summary=f"run {run_id or '(no run_id)'} had no terminal event; closed as timed out",
        context={"run_id": run_id, "closing_seq": event.seq},
    )
