"""Per-thread health, computed in one query from indexed data (the console lists thousands).

- failing: an undelivered event, or an active alert on the thread (a stalled run, say);
- waiting: unacknowledged events and no live connection: the client is away, not a failure;
- degraded: the thread needed healing or retries within DEGRADED_WINDOW;
- healthy: none of these.

Each flag is an EXISTS over a partial or leading-column index: `event_open_thread_idx`
(thread, seq WHERE state <> acked), `connection_live_idx`, `alert_active_idx` and
`attempt_thread_time_idx`; the cost per thread is a few index probes.
"""

import uuid
from datetime import timedelta
from enum import StrEnum

from django.db.models import Case, CharField, Exists, OuterRef, QuerySet, Value, When
from django.utils import timezone

from delivery.models import (
    UNACKED_STATES,
    Connection,
    ConnectionState,
    DeliveryAttempt,
    Event,
    EventState,
    Thread,
    Trigger,
)
from monitoring.models import ACTIVE_ALERT_STATES, Alert

DEGRADED_WINDOW = timedelta(hours=24)


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    WAITING = "waiting"


def threads_with_health(queryset: QuerySet[Thread] | None = None) -> QuerySet[Thread]:
    """Annotate threads with `health` (a Health value) and the flags behind it."""
    threads = queryset if queryset is not None else Thread.objects.all()
    thread = OuterRef("pk")
    open_events = Event.objects.filter(thread=thread).exclude(state=EventState.ACKED)
    return threads.annotate(
        has_undelivered=Exists(open_events.filter(state=EventState.UNDELIVERED)),
        has_active_alert=Exists(Alert.objects.filter(thread=thread, state__in=ACTIVE_ALERT_STATES)),
        has_unacked=Exists(open_events.filter(state__in=UNACKED_STATES)),
        is_live=Exists(Connection.objects.filter(thread=thread, state=ConnectionState.LIVE)),
        was_repaired=Exists(
            DeliveryAttempt.objects.filter(
                thread=thread,
                created_at__gte=timezone.now() - DEGRADED_WINDOW,
                trigger__in=(Trigger.HEAL, Trigger.RETRY),
            )
        ),
    ).annotate(
        health=Case(
            When(has_undelivered=True, then=Value(Health.FAILING.value)),
            When(has_active_alert=True, then=Value(Health.FAILING.value)),
            When(has_unacked=True, is_live=False, then=Value(Health.WAITING.value)),
            When(was_repaired=True, then=Value(Health.DEGRADED.value)),
            default=Value(Health.HEALTHY.value),
            output_field=CharField(),
        )
    )


def thread_health(*, thread_id: uuid.UUID | str) -> Health:
    thread = threads_with_health().get(pk=thread_id)
    return Health(thread.health)  # type: ignore[attr-defined]


def health_counts() -> dict[str, int]:
    """Threads per health class (the console overview)."""
    counts = {health.value: 0 for health in Health}
    rows = threads_with_health().values_list("health", flat=True)  # type: ignore[misc]
    for health in rows:
        counts[health] += 1
    return counts
