"""Typed settings of the demo agent: `settings.LEDGERLINE_AGENT`, checked at startup."""

import dataclasses

from delivery.conf import SettingsBlock, at_least


@dataclasses.dataclass(frozen=True)
class AgentSettings:
    step_delay: float = 0.3  # the pause between a run's steps
    burst_max: int = dataclasses.field(default=5000, metadata=at_least(1))  # the `/burst N` cap
    # Fair runs: a user's runs beyond this wait their turn (agent/scheduling.py).
    runs_per_user: int = dataclasses.field(default=1, metadata=at_least(1))
    run_slot_wait: float = dataclasses.field(default=0.5, metadata=at_least(0.05))


current = SettingsBlock("LEDGERLINE_AGENT", AgentSettings, "agent.E001")
