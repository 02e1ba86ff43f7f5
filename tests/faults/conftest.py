"""Fault scenarios: a stack of real processes per test, and one figures table per session."""

import os
from pathlib import Path

import pytest
from channels.layers import channel_layers

from tests.faults.stack import FaultStack

FIGURES: list[dict] = []
COLUMNS = {
    "scenario": "scenario",
    "injected": "injected",
    "events": "events",
    "threads": "threads",
    "lost": "lost",
    "rendered_twice": "rendered twice",
    "repeats_deduplicated": "repeats deduplicated",
    "undelivered": "flagged undelivered",
    "seconds": "time to full delivery (s)",
    "notes": "notes",
}


@pytest.fixture
def stack(tmp_path, settings):
    """Own redis-server, channel layer of this test process pointed at it; processes on demand."""
    faults = FaultStack(tmp_path)
    faults.start_redis()
    default = settings.CHANNEL_LAYERS["default"]
    config = {**default["CONFIG"], "hosts": [faults.redis_url], "prefix": faults.prefix}
    settings.CHANNEL_LAYERS = {"default": {**default, "CONFIG": config}}
    channel_layers.backends = {}
    yield faults
    channel_layers.backends = {}
    faults.close()


@pytest.fixture
def figures():
    """`figures(scenario=..., injected=..., ...)` records one row of the reliability table."""

    def record(**row):
        FIGURES.append(row)

    return record


def table() -> str:
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for row in FIGURES:
        lines.append("| " + " | ".join(str(row.get(key, "")) for key in COLUMNS) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("Ledgerline under faults")
    terminalreporter.write_line(table())
    if path := os.environ.get("LEDGERLINE_FAULTS_TABLE"):
        Path(path).write_text(table() + "\n")
