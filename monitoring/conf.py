"""Typed settings of monitoring: `settings.LEDGERLINE_MONITORING`, checked at startup."""

import dataclasses

from delivery.conf import SettingsBlock, at_least


@dataclasses.dataclass(frozen=True)
class MonitoringSettings:
    canary_interval: float = dataclasses.field(default=60.0, metadata=at_least(1))
    check_timeout: float = dataclasses.field(default=5.0, metadata=at_least(0.1))


current = SettingsBlock("LEDGERLINE_MONITORING", MonitoringSettings, "monitoring.E001")
