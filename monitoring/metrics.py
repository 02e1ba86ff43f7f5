"""Monitoring metrics: the canary histogram, and ledger-derived gauges computed at scrape time.

The ledger gauges are read from PostgreSQL on every scrape, so they are the same whichever
process (daphne, worker, beat) serves /metrics. Counters and histograms live in each process
and are merged through prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR).
"""

from collections.abc import Iterator

from django.db import connection
from django.utils import timezone
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from delivery import conf
from delivery import metrics as delivery_metrics  # noqa: F401  (sets the multiprocess mode first)
from delivery.models import Connection, ConnectionState, ReconcilerHeartbeat
from delivery.repair.reconcile import RECONCILER
from monitoring.models import ACTIVE_ALERT_STATES, ALERT_KINDS, Alert, VerificationRun
from monitoring.readiness import readiness

canary_latency = Histogram(
    "ledger_canary_latency_seconds",
    "Canary: emit to the acknowledgement recorded in the ledger, over a real socket.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

AGE_BUCKETS = (("10", 10), ("60", 60), ("600", 600), ("3600", 3600), ("+Inf", None))

# Threads with events above their acked watermark: whether a client is live, what their
# connections were sent, and the open undelivered ceiling. Events are then read by the thread's
# primary key range, so a scrape costs the unacknowledged events, plus a pass over the threads.
OPEN_THREADS_SQL = """
    SELECT t.id, t.acked_seq, t.last_seq, t.created_at, t.last_event_at,
           EXISTS (SELECT 1 FROM delivery_connection c
                    WHERE c.thread_id = t.id AND c.state = 'live') AS live,
           (SELECT COALESCE(max(c.sent_seq), 0) FROM delivery_connection c
             WHERE c.thread_id = t.id) AS sent,
           (SELECT COALESCE(max(r.last_seq), 0) FROM delivery_undeliveredrange r
             WHERE r.thread_id = t.id AND r.reopened_at IS NULL
               AND r.last_seq > t.acked_seq) AS lost
      FROM delivery_thread t WHERE t.acked_seq < t.last_seq
"""
# Counting per bucket in SQL keeps the scrape to one statement.
UNACKED_BUCKETS_SQL = f"""
    WITH open AS ({OPEN_THREADS_SQL})
    SELECT CASE WHEN e.seq <= o.sent THEN 'sent' ELSE 'committed' END, o.live,
           count(*) FILTER (WHERE e.age <= 10), count(*) FILTER (WHERE e.age <= 60),
           count(*) FILTER (WHERE e.age <= 600), count(*) FILTER (WHERE e.age <= 3600),
           count(*)
      FROM open o
     CROSS JOIN LATERAL (
           SELECT x.seq, EXTRACT(EPOCH FROM (now() - x.created_at)) AS age
             FROM delivery_event x
            WHERE x.thread_id = o.id AND x.seq > GREATEST(o.acked_seq, o.lost)
              AND x.seq <= o.last_seq
              AND x.created_at BETWEEN o.created_at AND o.last_event_at
           OFFSET 0) e
     GROUP BY 1, 2
"""  # noqa: S608
UNDELIVERED_SQL = """
    SELECT COALESCE(sum(r.last_seq - GREATEST(r.first_seq, t.acked_seq + 1) + 1), 0)
      FROM delivery_undeliveredrange r JOIN delivery_thread t ON t.id = r.thread_id
     WHERE r.reopened_at IS NULL AND r.last_seq > t.acked_seq
"""


class LedgerCollector(Collector):
    """Gauges read from the ledger at scrape time."""

    def collect(self) -> Iterator[Metric]:
        yield self._unacked()
        yield self._undelivered()
        yield GaugeMetricFamily(
            "ledger_live_connections",
            "Connection rows in state live (all daphne processes).",
            value=Connection.objects.filter(state=ConnectionState.LIVE).count(),
        )
        yield from self._reconciler()
        yield from self._verification()
        yield self._alerts()

    def _unacked(self) -> Metric:
        family = GaugeMetricFamily(
            "ledger_unacked_events",
            "Unacknowledged events (committed, or sent to some connection) whose age since "
            "commit is at most `le` seconds: cumulative buckets. client=away: the thread has no "
            "live connection (waiting for its client, not a failure); client=live: in flight.",
            labels=["state", "client", "le"],
        )
        found = {}
        with connection.cursor() as cursor:
            cursor.execute(UNACKED_BUCKETS_SQL)
            for state, live, *counts in cursor.fetchall():
                found[(state, "live" if live else "away")] = counts
        for state in ("committed", "sent"):
            for client in ("live", "away"):
                counts = found.get((state, client), [0] * len(AGE_BUCKETS))
                for (label, _), count in zip(AGE_BUCKETS, counts, strict=True):
                    family.add_metric([state, client, label], count)
        return family

    def _undelivered(self) -> Metric:
        with connection.cursor() as cursor:
            cursor.execute(UNDELIVERED_SQL)
            (count,) = cursor.fetchone() or (0,)
        return GaugeMetricFamily(
            "ledger_undelivered_events",
            "Events in open undelivered ranges (given up on, not replayed, not acked since).",
            value=count,
        )

    def _reconciler(self) -> Iterator[Metric]:
        beat = ReconcilerHeartbeat.objects.filter(name=RECONCILER).first()
        age = (timezone.now() - beat.last_finished_at).total_seconds() if beat else float("inf")
        interval = conf.current().reconcile_interval
        yield GaugeMetricFamily(
            "ledger_reconciler_last_run_age_seconds",
            "Seconds since the reconciler last finished a sweep (+Inf: never).",
            value=age,
        )
        yield GaugeMetricFamily(
            "ledger_reconciler_lag_seconds",
            "How far the reconciler is behind its schedule: last-run age minus the interval.",
            value=max(0.0, age - interval),
        )
        yield GaugeMetricFamily(
            "ledger_reconciler_last_duration_seconds",
            "Duration of the reconciler's last sweep.",
            value=beat.last_duration if beat else 0.0,
        )

    def _verification(self) -> Iterator[Metric]:
        state = readiness()
        yield GaugeMetricFamily(
            "websocket_enhancement_status",
            "1 while /healthz/ready is 200: the last full verification passed and no canary "
            "failed since (monitoring/readiness.py), else 0.",
            value=1 if state.ready else 0,
        )
        last = (
            VerificationRun.objects.filter(finished_at__isnull=False)
            .order_by("-started_at")
            .first()
        )
        age = (timezone.now() - last.started_at).total_seconds() if last else float("inf")
        yield GaugeMetricFamily(
            "ledger_verification_last_run_age_seconds",
            "Seconds since the last verification or canary run started.",
            value=age,
        )

    def _alerts(self) -> Metric:
        family = GaugeMetricFamily(
            "ledger_active_alerts", "Open or acknowledged alerts, by kind.", labels=["kind"]
        )
        rows = (
            Alert.objects.filter(state__in=ACTIVE_ALERT_STATES).values_list("kind").order_by("kind")
        )
        # Every known kind at 0 too: a healthy system's dashboard shows 0, not "no data".
        counts = dict.fromkeys(ALERT_KINDS, 0)
        for (kind,) in rows:
            counts[kind] = counts.get(kind, 0) + 1
        for kind, count in counts.items():
            family.add_metric([kind], count)
        return family
