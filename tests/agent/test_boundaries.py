"""The demo agent is user code: it may use only delivery's public emit API."""

import ast
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "agent"
# The emit API, the hook that starts a run, and the error a retry is for.
PUBLIC = {
    ("delivery", "emit"),
    ("delivery", "emit_many"),
    ("delivery.services", "message_posted"),
    ("delivery.exceptions", "LedgerWriteFailed"),
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
