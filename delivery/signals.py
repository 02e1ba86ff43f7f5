"""The hooks of the delivery core. `delivery` never imports `monitoring` or `agent`: they
subscribe here. The repair path subscribes too, in `DeliveryConfig.ready`, so the lower layers
never import the Celery tasks that act on what they report.
"""

from django.dispatch import Signal

message_posted = Signal()
"""Sent after a user's message is committed for the first time (not on an idempotent repeat).
Receivers get `thread` and `event`; the agent that answers connects here."""

fast_path_missed = Signal()
"""A publisher round's thread messages were dropped by the layer or failed. Receivers get
`sends` (`delivery.fastpath.fanout.GroupSend`). Sent from the publisher's thread between rounds,
where the ORM may run; `delivery.tasks` records them and queues their redelivery."""

replay_requested = Signal()
"""An operator's replay was committed. Receivers get `replay_id`; `delivery.tasks` queues
the job. Sent after the transaction commits."""

event_undelivered = Signal()
"""A range of events was recorded undelivered. Receivers get `thread_id`, `first`, `last` (the
seq range) and `cause`. Sent after the transaction commits, like every signal below."""

run_timed_out = Signal()
"""A run had no terminal event within RUN_TIMEOUT and was closed with `agent_failed`.
Receivers get `thread_id`, `run_id` (or None) and `event` (the agent_failed event)."""

connections_marked_dead = Signal()
"""Live connection rows with stale heartbeats were marked dead. Receivers get `count`."""
