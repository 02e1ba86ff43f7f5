"""Reads a user's message and decides what the demo agent does. Deterministic, no model."""

import re
from dataclasses import dataclass, field

EXPRESSION_RE = re.compile(r"[-+*/%^\u00d7\u00f7().\d\s]+")
OPERATOR_RE = re.compile(r"\d\s*(\*\*|//|[-+*/%^\u00d7\u00f7])\s*[-+(.\d]")
BURST_RE = re.compile(r"^/burst(?:\s+(\S+))?(?:\s+(\S+))?\s*$")
CLOCK_WORDS = {"time", "clock", "date", "day", "today", "now"}


@dataclass(frozen=True)
class ToolCall:
    tool: str
    input: str


@dataclass(frozen=True)
class Plan:
    """Either tool calls, or a burst of `burst` events of `size` bytes each."""

    thought: str
    calls: list[ToolCall] = field(default_factory=list)
    burst: tuple[str | None, str | None] | None = None


def expression_in(text: str) -> str | None:
    """The longest run of arithmetic in `text` that has a number and an operator."""
    candidates = [m.group().strip() for m in EXPRESSION_RE.finditer(text)]
    candidates = [c for c in candidates if OPERATOR_RE.search(c)]
    return max(candidates, key=len) if candidates else None


def plan_for(text: str) -> Plan:
    stripped = text.strip()
    burst = BURST_RE.match(stripped)
    if burst:
        return Plan(thought="Sending a burst of events.", burst=(burst[1], burst[2]))
    if stripped.startswith("/fail"):
        return Plan("Calling a tool that is known to crash.", [ToolCall("crash", stripped)])
    calls = []
    expression = expression_in(stripped)
    if expression:
        calls.append(ToolCall("calculator", expression))
    if set(re.findall(r"[a-z]+", stripped.lower())) & CLOCK_WORDS:
        calls.append(ToolCall("clock", ""))
    if not calls:
        calls.append(ToolCall("knowledge", stripped))
    names = " and ".join(call.tool for call in calls)
    return Plan(thought=f"Using the {names} tool{'s' if len(calls) > 1 else ''}.", calls=calls)
