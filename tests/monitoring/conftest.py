"""Fixtures of the monitoring tests that need a real web process."""

import pytest

from delivery.repair.reconcile import reconcile
from tests.processes import free_port, start_daphne, stop


@pytest.fixture
def web(tmp_path, settings, fast_timings):
    """Start a web process; PUBLIC_URL points at it. The reconciler has just run."""
    settings.LEDGERLINE_MONITORING = {**settings.LEDGERLINE_MONITORING, "CHECK_TIMEOUT": 5.0}
    started = []

    def start(module="config.serve", **env):
        port = free_port()
        started.append(start_daphne(port, tmp_path / f"web-{port}.log", module=module, **env))
        settings.PUBLIC_URL = f"http://127.0.0.1:{port}"
        reconcile()
        return port

    yield start
    for process in started:
        stop(process)
