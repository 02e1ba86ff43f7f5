"""The socket's ledger calls, each run off the event loop (`database_sync_to_async`)."""

from typing import Any

from channels.db import database_sync_to_async

from delivery.fastpath.frames import event_frame
from delivery.ledger import progress, selectors, services
from delivery.models import Thread

thread_for_user = database_sync_to_async(selectors.thread_for_user)
open_connection = database_sync_to_async(progress.open_connection)
close_connection = database_sync_to_async(progress.close_connection)
sent_watermark = database_sync_to_async(progress.sent_watermark)
post_message = database_sync_to_async(services.post_message)


@database_sync_to_async
def ledger_position(thread: Thread) -> tuple[int, int, int | None]:
    last, watermark = selectors.ledger_position(thread_id=thread.id)
    first = selectors.first_retained_seq(thread_id=thread.id, since=thread.created_at)
    return last, watermark, first


@database_sync_to_async
def events_between(thread: Thread, first: int, last: int) -> list[dict[str, Any]]:
    events = selectors.events_between(
        thread_id=thread.id, first=first, last=last, since=thread.created_at
    )
    return [event_frame(event) for event in events]
