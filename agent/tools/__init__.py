"""The demo agent's tools. Each is small and real; `call` runs one, `phrase` says its result."""

from typing import Any

from agent.plans import ToolCall
from agent.tools import calculator, clock, knowledge


class ToolError(Exception):
    """A tool could not answer this input. The run goes on and says so."""


class ToolCrashed(RuntimeError):
    """The deliberately broken tool behind `/fail`: it shows how a failed run looks."""


def call(tool_call: ToolCall) -> Any:
    if tool_call.tool == "calculator":
        try:
            return calculator.format_number(calculator.evaluate(tool_call.input))
        except calculator.CalculatorError as exc:
            raise ToolError(str(exc)) from None
    if tool_call.tool == "clock":
        return clock.now()
    if tool_call.tool == "knowledge":
        return knowledge.search(tool_call.input)
    if tool_call.tool == "crash":
        raise ToolCrashed("the crash tool failed, as /fail asked it to")
    raise ToolError(f"there is no tool called {tool_call.tool!r}")


def phrase(tool_call: ToolCall, outcome: dict[str, Any]) -> str:
    """One sentence of the final answer for one tool's outcome."""
    if not outcome["ok"]:
        return f"I could not work out {tool_call.input}: {outcome['error']}."
    result = outcome["result"]
    if tool_call.tool == "calculator":
        return f"`{tool_call.input}` = {result}"  # markdown: `2*3*4` must not read as emphasis
    if tool_call.tool == "clock":
        return f"It is {result['text']}."
    if not result:
        return (
            "I don't know about that yet. Ask me about the ledger, acks, resume, the fallback, "
            "the reconciler, drops, runs, tokens or /burst, or give me a sum like 12*7."
        )
    return " ".join(article["text"] for article in result[:2])
