"""Delivery counters. The names are the ones operators already chart (DESIGN "Monitoring").

With PROMETHEUS_MULTIPROC_DIR set (make run, docker-compose) every process writes its samples
there and /metrics merges them. Files are keyed by host and pid, so containers sharing one
volume (whose pids repeat) never write to the same file.
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
    "Settled events deleted by retention (delivery.retention.prune_ledger).",
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
