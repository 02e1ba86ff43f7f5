"""Delivery counters. The names are the ones operators already chart (docs/architecture.md,
"Monitoring").

With PROMETHEUS_MULTIPROC_DIR set (make run, docker-compose) every process writes its samples
there and /metrics merges them. Files are keyed by host and pid, so containers sharing one
volume (whose pids repeat) never write to the same file.

Every labelled counter is exported at 0 for each label value in KNOWN_LABELS from the moment
this module is imported (`_export_known_labels` at the end). A series that appears only at its
first increment is invisible to a dashboard on a healthy system, and Prometheus' `increase()`
misses that first failure, because it needs a sample before it.
"""

import os
import socket

from prometheus_client import Counter, Gauge, Histogram, values

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _HOST = socket.gethostname().replace("_", "-")[:40]
    values.ValueClass = values.MultiProcessValue(lambda: f"{_HOST}-{os.getpid()}")

events_emitted = Counter("ledger_events_emitted_total", "Events committed to the ledger.")
events_sent = Counter(
    "websocket_events_sent_total", "Event frames written to client sockets.", ["trigger"]
)
events_failed = Counter(
    "websocket_events_failed_total", "Events whose fast-path send failed.", ["cause"]
)
events_dropped = Counter(
    "websocket_events_dropped_total",
    "Channel deliveries the channel layer dropped, by cause.",
    ["cause"],
)
duplicates_dropped = Counter(
    "websocket_duplicates_dropped_total", "Live events at or below a connection's sent_seq."
)
gaps_healed = Counter("websocket_gaps_healed_total", "Gaps a consumer backfilled from the ledger.")
gap_events_healed = Counter(
    "websocket_gap_events_healed_total", "Events a consumer backfilled to close a gap."
)
events_acked = Counter("websocket_events_acked_total", "Events acknowledged by a client.")
redeliveries = Counter(
    "websocket_redeliveries_total", "Events sent again outside the live path.", ["trigger"]
)
silent_failures = Counter(
    "silent_failure_detected_total", "Failures caught that would otherwise be silent.", ["kind"]
)
bad_frames = Counter("websocket_bad_frames_total", "Rejected client frames.", ["code"])
sends_after_close = Counter(
    "websocket_sends_after_close_total",
    "Frames not written because the socket had just closed (the ledger keeps them).",
)
delivery_time = Histogram(
    "critical_event_delivery_time_seconds",
    "Time from emit to client acknowledgement for critical events.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
live_connections = Gauge(
    "websocket_live_connections", "Open client sockets.", multiprocess_mode="livesum"
)
reconcile_runs = Counter("ledger_reconcile_runs_total", "Reconciler sweeps completed.")
reconcile_duration = Histogram(
    "ledger_reconcile_duration_seconds",
    "Duration of one reconciler sweep.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
connections_marked_dead = Counter(
    "ledger_connections_marked_dead_total",
    "Live connection rows the reconciler marked dead because their heartbeat stopped.",
)
events_pruned = Counter(
    "ledger_pruned_events_total",
    "Settled events deleted by retention (delivery.ledger.retention.prune_ledger).",
)
emit_duration = Histogram(
    "ledger_emit_seconds",
    "Time an emit call takes to commit (what the agent waits for).",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
fast_path_lag = Histogram(
    "fastpath_lag_seconds",
    "Time from an emit's commit to its fast-path group_send returning (publisher backlog).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# The label values the code uses, literal here because this module imports nothing of ours
# (tests/monitoring/test_metrics.py checks them against delivery's triggers, causes and codes).
LIVE_TRIGGERS = ("live", "heal", "resume", "retry", "replay")
REDELIVERY_TRIGGERS = ("heal", "retry", "replay")
KNOWN_LABELS: dict[Counter, tuple[str, ...]] = {
    events_sent: LIVE_TRIGGERS,
    # fanout: "fast_path" for the live send, "<trigger>_send" for a repair's group send.
    events_failed: ("fast_path", "heal_send", "retry_send", "replay_send"),
    events_dropped: ("channel_full",),
    redeliveries: REDELIVERY_TRIGGERS,
    silent_failures: ("unacked", "stalled_run"),
    bad_frames: (
        "ack_beyond_sent",
        "bad_json",
        "binary_not_supported",
        "frame_too_large",
        "invalid_field",
        "not_an_object",
        "rate_limited",
        "unknown_type",
    ),
}


def _export_known_labels() -> None:
    """Create each known series at 0 (in multiprocess mode, in this process's file)."""
    for counter, known in KNOWN_LABELS.items():
        for value in known:
            counter.labels(value)


_export_known_labels()
