"""The event types Ledgerline gives a meaning to, spelled once.

A run starts with `agent_started` and ends with `agent_completed` or `agent_failed`: the run
watchdog (delivery/repair/runs.py) closes a run that never ends, and the chat shows a run as
working until it does. `user_message` is the user's turn. The agent and the chat both read
these names from here; any other type is the agent's own and passes through untouched.
"""

from enum import StrEnum


class EventType(StrEnum):
    USER_MESSAGE = "user_message"
    AGENT_STARTED = "agent_started"
    AGENT_THINKING = "agent_thinking"
    AGENT_COMPLETED = "agent_completed"
    AGENT_FAILED = "agent_failed"
    TOOL_EXECUTING = "tool_executing"
    TOOL_COMPLETED = "tool_completed"


RUN_ENDED = (EventType.AGENT_COMPLETED, EventType.AGENT_FAILED)
