"""One agent run: the events it emits for one user message, through the public emit API only.

Every emit is keyed by the run id (the user message's event id) and the step number, so a
retried task replays the same keys and the ledger returns the events it already holds instead
of adding duplicates. However a run ends, its last event is `agent_completed` or `agent_failed`.
"""

import logging
import time
from typing import Any

from agent import conf, tools
from agent.plans import Plan, ToolCall, plan_for
from delivery import emit, emit_many
from delivery.event_types import EventType
from delivery.exceptions import LedgerWriteFailed

logger = logging.getLogger(__name__)

BURST_CHUNK = 250
BURST_DEFAULT_SIZE = 16
BURST_MAX_SIZE = 4096


class RequestRefused(Exception):
    """The user asked for something the agent will not do (for example a burst over the cap)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Run:
    def __init__(self, thread_id: str, run_id: str, pause: float) -> None:
        self.thread_id, self.run_id, self.pause_seconds, self.step = thread_id, run_id, pause, 0

    def _key(self) -> str:
        self.step += 1
        return f"run:{self.run_id}:{self.step}"

    def emit(self, type: str, **payload: Any) -> None:
        emit(self.thread_id, type, {"run_id": self.run_id, **payload}, idempotency_key=self._key())

    def emit_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        emit_many(self.thread_id, items, idempotency_key=self._key())

    def pause(self) -> None:
        if self.pause_seconds > 0:
            time.sleep(self.pause_seconds)


def run_for_message(
    *, thread_id: str, message_id: str, text: str, pause: float | None = None
) -> None:
    """Answer one user message. Raises only `LedgerWriteFailed`, for the task to retry."""
    delay = conf.current().step_delay if pause is None else pause
    run = Run(thread_id, message_id, float(delay))
    run.emit(EventType.AGENT_STARTED, message_id=message_id)
    try:
        answer = _answer(run, plan_for(text))
    except LedgerWriteFailed:
        raise
    except RequestRefused as exc:
        run.emit(EventType.AGENT_FAILED, reason=exc.reason, detail=str(exc))
    except Exception as exc:
        logger.exception("agent run %s failed", run.run_id)
        run.emit(EventType.AGENT_FAILED, reason="error", detail=f"{exc.__class__.__name__}: {exc}")
    else:
        run.emit(EventType.AGENT_COMPLETED, answer=answer)


def _answer(run: Run, plan: Plan) -> str:
    if plan.burst is not None:
        return _burst(run, plan, *plan.burst)
    run.emit(EventType.AGENT_THINKING, text=plan.thought)
    run.pause()
    outcomes = [_use_tool(run, call) for call in plan.calls]
    return "\n".join(
        tools.phrase(call, outcome) for call, outcome in zip(plan.calls, outcomes, strict=True)
    )


def _use_tool(run: Run, call: ToolCall) -> dict[str, Any]:
    call_id = f"{run.run_id}:{run.step + 1}"
    run.emit(EventType.TOOL_EXECUTING, tool=call.tool, input=call.input, call_id=call_id)
    run.pause()
    try:
        outcome: dict[str, Any] = {"ok": True, "result": tools.call(call)}
    except tools.ToolError as exc:
        outcome = {"ok": False, "error": str(exc)}
    run.emit(EventType.TOOL_COMPLETED, tool=call.tool, call_id=call_id, **outcome)
    return outcome


def _burst(run: Run, plan: Plan, count_text: str | None, size_text: str | None) -> str:
    cap = conf.current().burst_max
    count, size = _burst_numbers(count_text, size_text)
    if count > cap:
        raise RequestRefused(
            "burst_too_large", f"/burst {count} is over the cap of {cap} (LEDGERLINE_BURST_MAX)"
        )
    run.emit(EventType.AGENT_THINKING, text=plan.thought)
    pad = "x" * size
    for first in range(1, count + 1, BURST_CHUNK):
        last = min(count, first + BURST_CHUNK - 1)
        run.emit_many(
            [
                ("burst", {"run_id": run.run_id, "i": i, "of": count, "pad": pad})
                for i in range(first, last + 1)
            ]
        )
    return f"Sent {count} burst events of {size} bytes each."


def _burst_numbers(count_text: str | None, size_text: str | None) -> tuple[int, int]:
    usage = f"usage: /burst N [size], with N from 1 and size from 0 to {BURST_MAX_SIZE}"
    try:
        count = int(count_text) if count_text else 0
        size = int(size_text) if size_text else BURST_DEFAULT_SIZE
    except ValueError:
        raise RequestRefused("invalid_command", usage) from None
    if count < 1 or not 0 <= size <= BURST_MAX_SIZE:
        raise RequestRefused("invalid_command", usage)
    return count, size
