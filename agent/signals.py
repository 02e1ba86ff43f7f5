"""Wiring: a newly committed user message starts an agent run, after the commit."""

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from agent.tasks import answer_message
from delivery import emit
from delivery.event_types import EventType
from delivery.signals import message_posted

logger = logging.getLogger(__name__)


@receiver(message_posted, dispatch_uid="agent.start_run")
def start_run(sender: Any, thread: Any, event: Any, **kwargs: Any) -> None:
    """`message_posted` fires only when the message was created, so a resend starts no run."""
    transaction.on_commit(
        partial(
            _enqueue, str(thread.id), str(event.event_id), event.payload["text"], thread.owner_id
        )
    )


def _enqueue(thread_id: str, message_id: str, text: str, user_id: int) -> None:
    try:
        answer_message.delay(thread_id, message_id, text, user_id)
    except Exception as exc:
        # Without a broker no run starts; say so in the thread rather than leave it silent.
        logger.exception("could not enqueue the agent run for message %s", message_id)
        emit(
            thread_id,
            EventType.AGENT_FAILED,
            {"run_id": message_id, "reason": "not_started", "detail": str(exc)[:200]},
            idempotency_key=f"run:{message_id}:not-started",
        )
