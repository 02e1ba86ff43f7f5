"""Folds a thread's ledger events into what the chat page shows: messages and agent runs.

`static/chat/render.js` builds the same markup from live events and history pages; the two
must agree. Markdown is not rendered here: answers go out as their source text, marked
`data-markdown`, and the page's one renderer (static/chat/markdown.js) renders them all.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from delivery.event_types import EventType
from delivery.models import Event

# Why a run failed, in words for the person who asked (render.js `FAILURES` mirrors this).
FAILURES = {
    "error": "Something went wrong",
    "timeout": "The agent stopped responding",
    "not_started": "The agent could not start",
    "burst_too_large": "The agent refused this request",
    "invalid_command": "The agent did not understand this command",
}


def failure_text(reason: str, detail: str) -> str:
    said = FAILURES.get(reason, "The run failed")
    return f"{said}: {detail}" if detail else f"{said}."


@dataclass
class ToolCard:
    call_id: str
    tool: str
    input: str
    seq: int
    done_seq: int | None = None
    ok: bool | None = None
    result: str = ""
    state: str = "running"  # running, done, failed, or stopped (the run ended without it)


@dataclass
class RunView:
    kind = "run"
    run_id: str
    seq: int
    at: datetime
    thinking: str = ""
    tools: list[ToolCard] = field(default_factory=list)
    bursts: list[tuple[int, int]] = field(default_factory=list)
    burst_of: int = 0
    answer: str | None = None
    failure: str | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None or self.failure is not None

    def card(self, call_id: str, seq: int) -> ToolCard:
        """The card of `call_id`, made on first sight: a history page can start mid-run."""
        for card in self.tools:
            if card.call_id == call_id:
                return card
        self.tools.append(ToolCard(call_id, "tool", "", seq))
        return self.tools[-1]

    def end(self, failed: bool) -> None:
        """A tool still running when its run ends shares the run's fate."""
        for card in self.tools:
            if card.state == "running":
                card.state = "failed" if failed else "stopped"


@dataclass
class Row:
    """A user message (`kind="user"`) or an event the page has no special view for."""

    kind: str
    seq: int
    type: str
    text: str
    at: datetime


def display_result(payload: dict[str, Any]) -> str:
    """A tool's outcome as one line of text (render.js `resultText` mirrors this)."""
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


def fold(events: list[Event]) -> list[RunView | Row]:
    items: list[RunView | Row] = []
    runs: dict[str, RunView] = {}
    for event in events:
        payload = event.payload if isinstance(event.payload, dict) else {}
        run_id = payload.get("run_id")
        if event.type == EventType.USER_MESSAGE:
            text = str(payload.get("text", ""))
            items.append(Row("user", event.seq, event.type, text, event.created_at))
        elif isinstance(run_id, str):
            if run_id not in runs:
                runs[run_id] = RunView(run_id=run_id, seq=event.seq, at=event.created_at)
                items.append(runs[run_id])
            _apply(runs[run_id], event.type, payload, event.seq)
        else:
            text = json.dumps(event.payload)[:300]
            items.append(Row("event", event.seq, event.type, text, event.created_at))
    return items


def _apply(run: RunView, type: str, payload: dict[str, Any], seq: int) -> None:
    if type == EventType.AGENT_THINKING:
        run.thinking = str(payload.get("text", ""))
    elif type == EventType.TOOL_EXECUTING:
        card = run.card(str(payload.get("call_id", "")), seq)
        card.tool, card.input = str(payload.get("tool", "")), str(payload.get("input", ""))
        card.seq = seq
    elif type == EventType.TOOL_COMPLETED:
        card = run.card(str(payload.get("call_id", "")), seq)
        card.tool = str(payload.get("tool", card.tool))
        card.done_seq, card.ok = seq, bool(payload.get("ok", True))
        card.state = "done" if card.ok else "failed"
        card.result = display_result(payload)
    elif type == "burst":
        run.bursts.append((seq, int(payload.get("i", 0))))
        run.burst_of = int(payload.get("of", 0))
    elif type == EventType.AGENT_COMPLETED:
        run.answer = str(payload.get("answer", ""))
        run.end(failed=False)
    elif type == EventType.AGENT_FAILED:
        run.failure = failure_text(str(payload.get("reason", "")), str(payload.get("detail", "")))
        run.end(failed=True)
