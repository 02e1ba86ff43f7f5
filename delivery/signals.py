"""Hooks the reconciler fires. `delivery` never imports `monitoring`: monitoring subscribes here.

Every signal is sent after the transaction that caused it commits.
"""

from django.dispatch import Signal

event_undelivered = Signal()
"""A range of events was recorded undelivered. Receivers get `thread_id`, `first`, `last` (the
seq range) and `cause`."""

run_timed_out = Signal()
"""A run had no terminal event within RUN_TIMEOUT and was closed with `agent_failed`.
Receivers get `thread_id`, `run_id` (or None) and `event` (the agent_failed event)."""

connections_marked_dead = Signal()
"""Live connection rows with stale heartbeats were marked dead. Receivers get `count`."""
