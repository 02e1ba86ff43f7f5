"""Operator replay (docs/architecture.md, "Console"): plan, request, run and cancel, every step
audited.

A replay is planned from a scope (one event, a seq range, a thread's undelivered events, or the
undelivered events of a set of threads), shown as a dry run, then requested with a reason. The
request freezes the plan as ReplayItem rows; a Celery job (`delivery.tasks.run_replay`) sends them
through the normal fast path with `trigger="replay"`, so clients see `replay: true` frames, and
records one DeliveryAttempt(trigger=replay) per batch and an outcome per event. Every event
a replay names is copied to AuditedEvent when it is requested, so retention cannot take it.

A replay reopens the undelivered ranges it covers, and the reconciler counts retries only
after the replay's send: replayed events that stay unacknowledged get a fresh retry budget on
live connections, and a client that is away gets them on its next connect (the resume starts
at the acked watermark). Earlier attempts are kept: a replay adds rows, it overwrites none.
"""

import logging
import uuid
from collections.abc import Iterable
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from delivery import signals
from delivery.exceptions import ReplayError
from delivery.fastpath.fanout import GroupSend
from delivery.fastpath.publisher import publisher
from delivery.ledger import audit, progress
from delivery.models import (
    AuditedEvent,
    Connection,
    ConnectionState,
    Event,
    Outcome,
    ReplayItem,
    ReplayOutcome,
    ReplayRequest,
    ReplayState,
    Trigger,
    UndeliveredRange,
)
from delivery.repair.replay_plans import (  # noqa: F401  (the replay API: plan, then request)
    MAX_EVENTS,
    ReplayPlan,
    parse_id,
    plan_event,
    plan_range,
    plan_unacked,
    plan_undelivered,
)
from delivery.text import storable, unstorable

logger = logging.getLogger(__name__)

BATCH = 200


def request_replay(
    *, plan: ReplayPlan, actor: User, reason: str, ticket: str = ""
) -> ReplayRequest:
    """Freeze `plan` into an audited ReplayRequest and queue its job after commit."""
    reason = reason.strip()
    if not reason:
        raise ReplayError("a replay needs a reason")
    if not (storable(reason) and storable(ticket)):
        raise unstorable(ReplayError, "the reason or ticket")
    if not plan.events:
        raise ReplayError("nothing to replay: the plan is empty")
    with transaction.atomic():
        replay = ReplayRequest.objects.create(
            actor=actor,
            actor_name=actor.get_username(),
            reason=reason[:500],
            ticket=ticket.strip()[:100],
            scope=plan.scope,
            scope_detail=plan.detail,
            planned_events=len(plan.events),
            planned_threads=len(plan.thread_ids),
        )
        ReplayItem.objects.bulk_create(
            ReplayItem(
                replay=replay,
                thread_id=e.thread_id,
                event_id=e.event_id,
                seq=e.seq,
                state_before=e.status.state,  # type: ignore[attr-defined]
            )
            for e in plan.events
        )
        audit.preserve(plan.events)
        transaction.on_commit(partial(_enqueue, replay.pk))
    logger.warning(
        "replay %s requested by %s: %s event(s) in %s thread(s), reason %r",
        replay.pk,
        replay.actor_name,
        replay.planned_events,
        replay.planned_threads,
        replay.reason,
    )
    return replay


def _enqueue(replay_id: int) -> None:
    signals.replay_requested.send(sender=ReplayRequest, replay_id=replay_id)


def cancel_replay(*, replay_id: int, actor: User) -> ReplayRequest:
    """Ask a queued or running replay to stop; the job stops before its next batch."""
    ReplayRequest.objects.filter(
        pk=replay_id, state__in=(ReplayState.QUEUED, ReplayState.RUNNING)
    ).update(state=ReplayState.CANCELLING, cancelled_by=actor.get_username())
    return ReplayRequest.objects.get(pk=replay_id)


def run_replay(*, replay_id: int) -> ReplayRequest:
    """The job: send each planned item, batch by batch, until done or cancelled. Idempotent."""
    started = ReplayRequest.objects.filter(pk=replay_id, state=ReplayState.QUEUED).update(
        state=ReplayState.RUNNING, started_at=timezone.now()
    )
    replay = ReplayRequest.objects.get(pk=replay_id)
    if not started and replay.state != ReplayState.CANCELLING:
        return replay  # already run, running elsewhere, or finished
    try:
        for batch in _planned_batches(replay):
            if _cancel_requested(replay_id):
                break
            _send_batch(replay, batch)
    except Exception:
        logger.exception("replay %s failed", replay_id)
        _finish(replay_id, ReplayState.FAILED)
        raise
    final = ReplayState.CANCELLED if _cancel_requested(replay_id) else ReplayState.DONE
    return _finish(replay_id, final)


def _planned_batches(replay: ReplayRequest) -> Iterable[list[ReplayItem]]:
    while True:
        items = list(
            replay.items.filter(outcome=ReplayOutcome.PLANNED).order_by("thread_id", "seq")[:BATCH]
        )
        if not items:
            return
        thread_id = items[0].thread_id
        yield [item for item in items if item.thread_id == thread_id]


def _cancel_requested(replay_id: int) -> bool:
    return ReplayRequest.objects.filter(pk=replay_id, state=ReplayState.CANCELLING).exists()


def _send_batch(replay: ReplayRequest, items: list[ReplayItem]) -> None:
    thread_id = items[0].thread_id
    events = _events_of(thread_id, items)
    if not events:
        _settle(replay, items, ReplayOutcome.FAILED, "failed")
        return
    online = Connection.objects.filter(thread_id=thread_id, state=ConnectionState.LIVE).exists()
    sent_at = timezone.now()
    sent = publisher.send(thread_id, events, trigger=Trigger.REPLAY)
    # Nobody listening is not a failure: the events go out on the next connect.
    took = sent not in (Outcome.DROPPED, Outcome.FAILED)
    now = timezone.now()
    with transaction.atomic():
        progress.record_group_sends(
            trigger=Trigger.REPLAY,
            detail=f"replay #{replay.pk} by {replay.actor_name}: {replay.reason}",
            sends=[GroupSend(thread_id, events[0].seq, events[-1].seq, Outcome(sent))],
            at=sent_at,
        )
        if took:
            _reopen(thread_id, events[0].seq, events[-1].seq, replay, now)
        outcome = (
            ReplayOutcome.FAILED
            if not took
            else ReplayOutcome.SENT_LIVE
            if online
            else ReplayOutcome.ON_NEXT_CONNECT
        )
        _settle(replay, items, outcome, "sent" if took else "failed")


def _settle(replay: ReplayRequest, items: list[ReplayItem], outcome: str, counter: str) -> None:
    ReplayItem.objects.filter(pk__in=[i.pk for i in items]).update(
        outcome=outcome, done_at=timezone.now()
    )
    ReplayRequest.objects.filter(pk=replay.pk).update(**{counter: F(counter) + len(items)})


def _events_of(thread_id: uuid.UUID, items: list[ReplayItem]) -> list[Event]:
    """The items' events from the ledger, or from their audited copies once retention took
    their day."""
    seqs = [item.seq for item in items]
    found = {e.seq: e for e in Event.objects.filter(thread_id=thread_id, seq__in=seqs)}
    missing = [item.event_id for item in items if item.seq not in found]
    for copy in AuditedEvent.objects.filter(event_id__in=missing):
        found[copy.seq] = audit.as_event(copy)
    return [found[seq] for seq in sorted(found)]


def _reopen(
    thread_id: uuid.UUID, first: int, last: int, replay: ReplayRequest, now: object
) -> None:
    """Undelivered ranges the replay covers go back to the normal path, with a fresh budget."""
    UndeliveredRange.objects.filter(
        thread_id=thread_id, reopened_at__isnull=True, first_seq__lte=last, last_seq__gte=first
    ).update(reopened_at=now, reopened_by=f"replay #{replay.pk} by {replay.actor_name}"[:150])


def _finish(replay_id: int, state: str) -> ReplayRequest:
    now = timezone.now()
    if state != ReplayState.DONE:
        ReplayItem.objects.filter(replay_id=replay_id, outcome=ReplayOutcome.PLANNED).update(
            outcome=ReplayOutcome.CANCELLED, done_at=now
        )
    ReplayRequest.objects.filter(pk=replay_id).update(state=state, finished_at=now)
    replay = ReplayRequest.objects.get(pk=replay_id)
    logger.warning(
        "replay %s %s: %s sent, %s failed of %s",
        replay.pk,
        replay.state,
        replay.sent,
        replay.failed,
        replay.planned_events,
    )
    return replay
