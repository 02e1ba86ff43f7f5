"""Folds a thread's ledger events into what the chat page shows: messages and agent runs.

`static/chat/chat.js` builds the same markup from live events; the two must agree.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from delivery.models import Event

TERMINAL = {"agent_completed", "agent_failed"}


@dataclass
class ToolCard:
    call_id: str
    tool: str
    input: str
    seq: int
    done_seq: int | None = None
    ok: bool | None = None
    result: str = ""


@dataclass
class RunView:
    kind = "run"
    run_id: str
    seq: int
    thinking: str = ""
    tools: list[ToolCard] = field(default_factory=list)
    bursts: list[tuple[int, int]] = field(default_factory=list)
    burst_of: int = 0
    answer: str | None = None
    failure: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None or self.failure is not None


@dataclass
class Row:
    """A user message (`kind="user"`) or an event the page has no special view for."""

    kind: str
    seq: int
    type: str
    text: str


def display_result(payload: dict[str, Any]) -> str:
    """A tool's outcome as one line of text (chat.js `resultText` mirrors this)."""
    if not payload.get("ok", True):
        return str(payload.get("error", "failed"))
    result = payload.get("result")
    if isinstance(result, str):
        return result
    if isinstance(result, dict) and "text" in result:
        return str(result["text"])
    if isinstance(result, list):
        titles = [str(item.get("title", "")) for item in result if isinstance(item, dict)]
        return "Found: " + ", ".join(titles) if titles else "No matching article"
    return json.dumps(result)


def first_message(items: list["RunView | Row"]) -> str:
    return next((item.text for item in items if isinstance(item, Row) and item.kind == "user"), "")


def fold(events: list[Event]) -> list[RunView | Row]:
    items: list[RunView | Row] = []
    runs: dict[str, RunView] = {}
    for event in events:
        run_id = event.payload.get("run_id") if isinstance(event.payload, dict) else None
        if event.type == "user_message":
            items.append(Row("user", event.seq, event.type, str(event.payload.get("text", ""))))
        elif isinstance(run_id, str):
            if run_id not in runs:
                runs[run_id] = RunView(run_id=run_id, seq=event.seq)
                items.append(runs[run_id])
            _apply(runs[run_id], event)
        else:
            items.append(Row("event", event.seq, event.type, json.dumps(event.payload)[:300]))
    return items


def _apply(run: RunView, event: Event) -> None:
    payload = event.payload
    if event.type == "agent_thinking":
        run.thinking = str(payload.get("text", ""))
    elif event.type == "tool_executing":
        call_id, tool = str(payload.get("call_id", "")), str(payload.get("tool", ""))
        run.tools.append(ToolCard(call_id, tool, str(payload.get("input", "")), event.seq))
    elif event.type == "tool_completed":
        for card in run.tools:
            if card.call_id == payload.get("call_id"):
                card.done_seq, card.ok = event.seq, bool(payload.get("ok", True))
                card.result = display_result(payload)
    elif event.type == "burst":
        run.bursts.append((event.seq, int(payload.get("i", 0))))
        run.burst_of = int(payload.get("of", 0))
    elif event.type == "agent_completed":
        run.answer = str(payload.get("answer", ""))
    elif event.type == "agent_failed":
        run.failure = {"reason": payload.get("reason", ""), "detail": payload.get("detail", "")}
