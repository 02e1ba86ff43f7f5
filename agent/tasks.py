"""Celery tasks of the demo agent. They take ids and call the run service."""

from celery import Task, shared_task

from agent import conf, runs, scheduling
from delivery.exceptions import LedgerWriteFailed


@shared_task(
    bind=True,
    ignore_result=True,
    acks_late=True,
    autoretry_for=(LedgerWriteFailed,),
    retry_backoff=1,
    max_retries=5,
)
def answer_message(
    self: Task, thread_id: str, message_id: str, text: str, user_id: int | None = None
) -> None:
    """Run the agent for one user message. Safe to retry: every emit is idempotent.

    A user with RUNS_PER_USER runs in progress waits for one to end, off the worker (a
    retry with a countdown), so one user's flood never holds every worker slot.
    """
    with scheduling.run_slot(user_id) as granted:
        if not granted:
            wait = conf.current().run_slot_wait
            raise self.retry(countdown=wait, max_retries=None)
        runs.run_for_message(thread_id=thread_id, message_id=message_id, text=text)
