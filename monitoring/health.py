"""Per-thread health, computed in one query from indexed data (the console lists thousands).

- failing: an open undelivered range above the acked watermark, or an active alert on the
  thread (a stalled run, say);
- waiting: events above the acked watermark and no live connection: the client is away, not
  a failure;
- degraded: some socket of the thread needed healing or retries within DEGRADED_WINDOW;
- healthy: none of these.

Unacknowledged is a comparison of the thread's two watermarks; each other flag is an EXISTS
over a small index: `undelivered_open_idx`, `connection_live_idx`, `alert_active_idx` and
`attempt_repair_idx` (repairs only); the cost per thread is a few index probes.
"""

import uuid
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypedDict

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from delivery.models import (
    Connection,
    ConnectionState,
    DeliveryAttempt,
    Thread,
    Trigger,
    UndeliveredRange,
)
from monitoring.models import ACTIVE_ALERT_STATES, Alert

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

DEGRADED_WINDOW = timedelta(hours=24)
REPAIRS = (Trigger.HEAL, Trigger.RETRY)


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    WAITING = "waiting"


class HealthFlags(TypedDict):
    """What `threads_with_health` annotates on each thread: `health` and the flags behind it."""

    has_undelivered: bool
    has_active_alert: bool
    has_unacked: bool
    is_live: bool
    was_repaired: bool
    health: str


if TYPE_CHECKING:
    ThreadWithHealth = WithAnnotations[Thread, HealthFlags]


def threads_with_health(queryset: QuerySet[Thread] | None = None) -> "QuerySet[ThreadWithHealth]":
    """Annotate threads with `health` (a Health value) and the flags behind it."""
    threads = queryset if queryset is not None else Thread.objects.all()
    thread = OuterRef("pk")
    return threads.annotate(
        has_undelivered=Exists(
            UndeliveredRange.objects.filter(
                thread=thread, reopened_at__isnull=True, last_seq__gt=OuterRef("acked_seq")
            )
        ),
        has_active_alert=Exists(Alert.objects.filter(thread=thread, state__in=ACTIVE_ALERT_STATES)),
        has_unacked=ExpressionWrapper(Q(acked_seq__lt=F("last_seq")), output_field=BooleanField()),
        is_live=Exists(Connection.objects.filter(thread=thread, state=ConnectionState.LIVE)),
        was_repaired=Exists(
            DeliveryAttempt.objects.filter(
                thread=thread,
                created_at__gte=timezone.now() - DEGRADED_WINDOW,
                trigger__in=REPAIRS,
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
    return Health(thread.health)


def health_counts() -> dict[str, int]:
    """Threads per health class (the console overview), classified only for the threads
    that can be anything but healthy (open events, active alerts, recent repairs): the rest
    are counted, not classified, so the cost follows the troubled set, not the ledger."""
    since = timezone.now() - DEGRADED_WINDOW
    alerts = Alert.objects.filter(state__in=ACTIVE_ALERT_STATES).values("thread_id")
    repairs = DeliveryAttempt.objects.filter(created_at__gte=since, trigger__in=REPAIRS).values(
        "thread_id"
    )
    troubled = Thread.objects.filter(
        Q(acked_seq__lt=F("last_seq")) | Q(pk__in=alerts) | Q(pk__in=repairs)
    )
    counts = {health.value: 0 for health in Health}
    classified = 0
    for health in threads_with_health(troubled).values_list("health", flat=True):
        counts[health] += 1
        classified += 1
    counts[Health.HEALTHY.value] += Thread.objects.count() - classified
    return counts
