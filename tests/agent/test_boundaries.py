"""The demo agent is user code: it may use only delivery's public emit API."""

import ast
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "agent"
# The emit API, the hook that starts a run, the error a retry is for, the event types, and
# the typed-settings block every app declares its settings with.
PUBLIC = {
    ("delivery", "emit"),
    ("delivery", "emit_many"),
    ("delivery.signals", "message_posted"),
    ("delivery.exceptions", "LedgerWriteFailed"),
    ("delivery.event_types", "EventType"),
    ("delivery.conf", "SettingsBlock"),
    ("delivery.conf", "at_least"),
}


def _delivery_imports():
    for path in AGENT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("delivery"):
                yield from ((path.name, node.module, alias.name) for alias in node.names)
            elif isinstance(node, ast.Import):
                yield from (
                    (path.name, alias.name, "*")
                    for alias in node.names
                    if alias.name.startswith("delivery")
                )


def test_agent_imports_only_the_public_emit_api():
    imports = list(_delivery_imports())
    assert imports, "the agent emits through delivery"
    assert [i for i in imports if (i[1], i[2]) not in PUBLIC] == []
