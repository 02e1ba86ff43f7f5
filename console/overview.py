"""The overview's numbers, all read from the ledger and monitoring records (no counters)."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import F, Q, Sum
from django.utils import timezone

from delivery.models import (
    DeliveryAttempt,
    ReconcilerHeartbeat,
    ReplayRequest,
    Trigger,
    UndeliveredRange,
)
from delivery.repair.reconcile import RECONCILER
from monitoring.health import health_counts
from monitoring.models import ACTIVE_ALERT_STATES, CANARY_TRIGGER, Alert, VerificationRun
from monitoring.readiness import Readiness, readiness
from monitoring.verification import heartbeat_bound

AGE_BUCKETS = [
    ("< 10 s", 0, 10),
    ("10 s – 1 min", 10, 60),  # noqa: RUF001
    ("1 – 10 min", 60, 600),  # noqa: RUF001
    ("10 min – 1 h", 600, 3600),  # noqa: RUF001
    ("> 1 h", 3600, None),
]


@dataclass
class Overview:
    health: dict[str, int]
    unacked_by_age: list[tuple[str, int]]
    repairs: dict[str, dict[str, int]]
    undelivered_causes: list[tuple[str, int, int]]
    latency: dict[str, float | None]
    readiness: Readiness
    heartbeat: ReconcilerHeartbeat | None
    heartbeat_ok: bool
    last_verification: VerificationRun | None
    last_canary: VerificationRun | None
    alerts: list[Alert]
    alert_count: int
    replays: list[ReplayRequest] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Changes whenever a number on the page changes (the poller stops when it does not)."""
        data = [
            self.health,
            self.unacked_by_age,
            self.repairs,
            self.undelivered_causes,
            self.latency,
            self.readiness.status,
            self.alert_count,
            [a.pk for a in self.alerts],
            self.last_verification and self.last_verification.pk,
            self.last_canary and self.last_canary.pk,
            [(r.pk, r.state, r.sent) for r in self.replays],
        ]
        return hashlib.sha1(json.dumps(data, default=str).encode()).hexdigest()[:12]  # noqa: S324


UNACKED_AGES_SQL = """
    SELECT count(*) FILTER (WHERE e.age < 10),
           count(*) FILTER (WHERE e.age >= 10 AND e.age < 60),
           count(*) FILTER (WHERE e.age >= 60 AND e.age < 600),
           count(*) FILTER (WHERE e.age >= 600 AND e.age < 3600),
           count(*) FILTER (WHERE e.age >= 3600)
      FROM delivery_thread t
     CROSS JOIN LATERAL (
           SELECT EXTRACT(EPOCH FROM (now() - x.created_at)) AS age FROM delivery_event x
            WHERE x.thread_id = t.id AND x.seq > t.acked_seq AND x.seq <= t.last_seq
              AND x.created_at BETWEEN t.created_at AND t.last_event_at
           OFFSET 0) e
     WHERE t.acked_seq < t.last_seq
"""


def unacked_by_age() -> list[tuple[str, int]]:
    """Events above their thread's acked watermark, by time since commit."""
    with connection.cursor() as cursor:
        cursor.execute(UNACKED_AGES_SQL)
        counts = cursor.fetchone()
    return [(label, int(count)) for (label, _, _), count in zip(AGE_BUCKETS, counts, strict=True)]


def repairs() -> dict[str, dict[str, int]]:
    """Events written again to clients, per trigger (heal = dropped on the fast path; retry;
    replay), in the last hour and 24 h: the frames sockets actually wrote."""
    now = timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(hours=24)
    triggers = (Trigger.HEAL, Trigger.RETRY, Trigger.REPLAY)
    events = F("last_seq") - F("first_seq") + 1
    rows = (
        DeliveryAttempt.objects.filter(
            created_at__gte=day, trigger__in=triggers, connection__isnull=False
        )
        .values("trigger")
        .annotate(
            hour=Sum(events, filter=Q(created_at__gte=hour), default=0),
            day=Sum(events, default=0),
        )
    )
    result: dict[str, dict[str, int]] = {str(t): {"hour": 0, "day": 0} for t in triggers}
    for row in rows:
        result[row["trigger"]] = {"hour": row["hour"], "day": row["day"]}
    return result


def undelivered_causes() -> list[tuple[str, int, int]]:
    """Events given up on in the last hour and 24 h, by cause."""
    now = timezone.now()
    events = F("last_seq") - F("first_seq") + 1
    rows = (
        UndeliveredRange.objects.filter(created_at__gte=now - timedelta(hours=24))
        .values("cause")
        .annotate(
            hour=Sum(events, filter=Q(created_at__gte=now - timedelta(hours=1)), default=0),
            day=Sum(events, default=0),
        )
        .order_by("-day")[:8]
    )
    return [(r["cause"] or "unknown", r["hour"], r["day"]) for r in rows]


# Each ack range of the last hour, then the events it covers, probed by their primary key and
# pruned to the days between the thread's start and the ack (OFFSET 0 keeps the probe per
# range: as a join it was planned as a scan of every event).
LATENCY_SQL = """
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99)
           WITHIN GROUP (ORDER BY d), count(*)
      FROM delivery_ackrange a
      JOIN delivery_thread t ON t.id = a.thread_id
     CROSS JOIN LATERAL (
           SELECT EXTRACT(EPOCH FROM (a.acked_at - e.created_at)) AS d FROM delivery_event e
            WHERE e.thread_id = a.thread_id AND e.seq > a.above AND e.seq <= a.upto
              AND e.created_at BETWEEN t.created_at AND a.acked_at
           OFFSET 0) acked
     WHERE a.acked_at >= now() - interval '1 hour'
"""


def latency() -> dict[str, float | None]:
    """Emit-to-ack seconds over the last hour, computed in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(LATENCY_SQL)
        p50, p99, count = cursor.fetchone()
    return {"p50": p50, "p99": p99, "count": count}


def overview() -> Overview:
    heartbeat = ReconcilerHeartbeat.objects.filter(name=RECONCILER).first()
    age = (timezone.now() - heartbeat.last_finished_at).total_seconds() if heartbeat else None
    runs = VerificationRun.objects.filter(finished_at__isnull=False).order_by("-started_at")
    active = Alert.objects.filter(state__in=ACTIVE_ALERT_STATES)
    return Overview(
        health=health_counts(),
        unacked_by_age=unacked_by_age(),
        repairs=repairs(),
        undelivered_causes=undelivered_causes(),
        latency=latency(),
        readiness=readiness(),
        heartbeat=heartbeat,
        heartbeat_ok=age is not None and age <= heartbeat_bound(),
        last_verification=runs.exclude(trigger=CANARY_TRIGGER).first(),
        last_canary=runs.filter(trigger=CANARY_TRIGGER).first(),
        alerts=list(active.select_related("thread").order_by("-last_seen")[:8]),
        alert_count=active.count(),
        replays=list(ReplayRequest.objects.order_by("-created_at")[:5]),
    )


def as_json(data: Overview) -> dict[str, Any]:
    return {
        "health": data.health,
        "unacked_by_age": dict(data.unacked_by_age),
        "repairs": data.repairs,
        "latency": data.latency,
        "alerts_open": data.alert_count,
        "reconciler_ok": data.heartbeat_ok,
        "ready": data.readiness.ready,
    }
