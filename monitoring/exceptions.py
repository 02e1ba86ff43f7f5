"""Domain errors of monitoring."""


class MonitoringError(Exception):
    code = "monitoring_error"


class CheckFailed(MonitoringError):
    """A verification check saw the system misbehave; the message says what did not happen."""

    code = "check_failed"
