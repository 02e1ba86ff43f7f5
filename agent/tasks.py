"""Celery tasks of the demo agent. They take ids and call the run service."""

from celery import shared_task

from agent import runs
from delivery.exceptions import LedgerWriteFailed


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(LedgerWriteFailed,),
    retry_backoff=1,
    max_retries=5,
)
def answer_message(thread_id: str, message_id: str, text: str) -> None:
    """Run the agent for one user message. Safe to retry: every emit is idempotent."""
    runs.run_for_message(thread_id=thread_id, message_id=message_id, text=text)
