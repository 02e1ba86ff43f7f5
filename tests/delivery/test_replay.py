"""Operator replay: planned exactly, audited, sent through the fast path marked replay."""

import pytest

from delivery import emit
from delivery.exceptions import ReplayError
from delivery.ledger.selectors import EventState
from delivery.models import (
    AuditedEvent,
    DeliveryAttempt,
    ReplayItem,
    ReplayRequest,
    Thread,
    UndeliveredRange,
)
from delivery.repair import replay
from tests.delivery.wsclient import connect, db, receive_events, send
from tests.ledger import ack, sent, states, status_of


def _lose(thread, first, last):
    """Sent, never acked, given up on: what the reconciler leaves behind."""
    sent(thread, first, last)
    UndeliveredRange.objects.create(
        thread=thread, first_seq=first, last_seq=last, cause="no ack after 5 sends"
    )


def _acked(thread, upto):
    sent(thread, 1, upto)
    ack(thread, upto)


@pytest.fixture
def lost_thread(thread):
    for i in range(4):
        emit(thread, "agent_step", {"i": i})
    _acked(thread, 2)
    _lose(thread, 3, 4)
    return thread


@pytest.mark.django_db
def test_thread_plan_holds_exactly_the_unacknowledged_events(lost_thread, user):
    lost_thread.refresh_from_db()
    plan = replay.plan_unacked(thread=lost_thread, detail={"thread": str(lost_thread.pk)})
    assert [e.seq for e in plan.events] == [3, 4]
    assert plan.thread_ids == [lost_thread.pk] and plan.online_threads == 0


@pytest.mark.django_db
def test_range_plan_may_include_acknowledged_events(lost_thread):
    plan = replay.plan_range(thread_id=lost_thread.pk, first=2, last=3)
    assert [(e.seq, e.status.state) for e in plan.events] == [(2, "acked"), (3, "undelivered")]


@pytest.mark.django_db
def test_a_replay_needs_a_reason(lost_thread, user):
    plan = replay.plan_range(thread_id=lost_thread.pk, first=3, last=4)
    with pytest.raises(ReplayError, match="reason"):
        replay.request_replay(plan=plan, actor=user, reason="  ")
    assert not ReplayRequest.objects.exists()


@pytest.mark.django_db
def test_replay_to_an_absent_client_waits_for_its_next_connect(lost_thread, user):
    plan = replay.plan_range(thread_id=lost_thread.pk, first=3, last=4)
    job = replay.request_replay(plan=plan, actor=user, reason="ticket 7", ticket="SUP-7")
    job = replay.run_replay(replay_id=job.pk)
    assert (job.state, job.sent, job.failed) == ("done", 2, 0)
    outcomes = set(ReplayItem.objects.values_list("outcome", flat=True))
    assert outcomes == {"on_next_connect"}
    # Back in the normal path: the undelivered range is reopened, and the reconciler counts
    # retries from the replay on.
    assert states(lost_thread) == {1: "acked", 2: "acked", 3: "sent", 4: "sent"}
    [lost] = UndeliveredRange.objects.filter(thread=lost_thread)
    assert lost.reopened_at is not None and f"replay #{job.pk}" in lost.reopened_by
    attempt = DeliveryAttempt.objects.get(trigger="replay")
    assert (attempt.first_seq, attempt.last_seq, attempt.outcome) == (3, 4, "no_listeners")
    assert "ticket 7" in attempt.detail


@pytest.mark.django_db
def test_a_replay_keeps_the_earlier_attempts(lost_thread, user):
    before = [(a.trigger, a.created_at) for a in status_of(lost_thread, 3).attempts]
    plan = replay.plan_range(thread_id=lost_thread.pk, first=3, last=3)
    for reason in ("first try", "second try"):
        job = replay.request_replay(plan=plan, actor=user, reason=reason)
        replay.run_replay(replay_id=job.pk)
    history = [(a.trigger, a.created_at) for a in status_of(lost_thread, 3).attempts]
    assert history[: len(before)] == before
    assert [trigger for trigger, _ in history[len(before) :]] == ["replay", "replay"]


@pytest.mark.django_db
def test_replayed_events_are_kept_as_audited_copies(lost_thread, user):
    plan = replay.plan_range(thread_id=lost_thread.pk, first=3, last=4)
    replay.request_replay(plan=plan, actor=user, reason="ticket 9")
    copies = AuditedEvent.objects.filter(thread=lost_thread).order_by("seq")
    assert [(c.seq, c.type, c.payload) for c in copies] == [
        (3, "agent_step", {"i": 2}),
        (4, "agent_step", {"i": 3}),
    ]


@pytest.mark.django_db
def test_a_cancelled_replay_sends_nothing(lost_thread, user):
    plan = replay.plan_range(thread_id=lost_thread.pk, first=3, last=4)
    job = replay.request_replay(plan=plan, actor=user, reason="oops")
    replay.cancel_replay(replay_id=job.pk, actor=user)
    job = replay.run_replay(replay_id=job.pk)
    assert (job.state, job.sent) == ("cancelled", 0)
    assert set(ReplayItem.objects.values_list("outcome", flat=True)) == {"cancelled"}


@pytest.mark.django_db
def test_running_a_finished_replay_again_sends_nothing(lost_thread, user):
    plan = replay.plan_range(thread_id=lost_thread.pk, first=3, last=4)
    job = replay.request_replay(plan=plan, actor=user, reason="once")
    replay.run_replay(replay_id=job.pk)
    again = replay.run_replay(replay_id=job.pk)
    assert again.sent == 2 and DeliveryAttempt.objects.filter(trigger="replay").count() == 1


@pytest.mark.django_db(transaction=True)
async def test_connected_client_gets_exactly_the_replayed_events_marked_replay(thread, user):
    for i in range(4):
        await db(emit)(thread, "agent_step", {"i": i})
    await db(_acked)(thread, 2)
    await db(_lose)(thread, 3, 4)
    communicator, _ = await connect(thread, user, after=4)
    try:
        plan = await db(replay.plan_range)(thread_id=thread.id, first=3, last=4)
        assert plan.online_threads == 1
        job = await db(replay.request_replay)(plan=plan, actor=user, reason="lost")
        await db(replay.run_replay)(replay_id=job.pk)
        frames = await receive_events(communicator, 2)
        assert [(f["seq"], f["replay"]) for f in frames] == [(3, True), (4, True)]
        assert await communicator.receive_nothing(timeout=0.3)
        await send(communicator, {"type": "ack", "seq": 4})
        outcomes = await db(lambda: set(ReplayItem.objects.values_list("outcome", flat=True)))()
        assert outcomes == {"sent_live"}
    finally:
        await communicator.disconnect()


@pytest.mark.django_db
def test_bulk_replay_covers_every_matching_thread_batch_by_batch(user):
    from tests.factories import ThreadFactory

    threads = [ThreadFactory(owner=user) for _ in range(3)]
    for thread in threads:
        for i in range(3):
            emit(thread, "agent_step", {"i": i})
        _acked(thread, 1)
        _lose(thread, 2, 3)
    plan = replay.plan_undelivered(
        threads=Thread.objects.filter(pk__in=[t.pk for t in threads[:2]]),
        detail={"q": user.username},
    )
    assert len(plan.events) == 4 and len(plan.thread_ids) == 2
    job = replay.request_replay(plan=plan, actor=user, reason="incident 12")
    job = replay.run_replay(replay_id=job.pk)
    assert (job.state, job.sent, job.planned_threads) == ("done", 4, 2)
    attempts = DeliveryAttempt.objects.filter(trigger="replay")
    assert sorted(attempts.values_list("thread_id", flat=True)) == sorted(t.pk for t in threads[:2])
    assert states(threads[2]) == {1: "acked", 2: EventState.UNDELIVERED, 3: "undelivered"}
    replayed = UndeliveredRange.objects.filter(thread__in=threads[:2], reopened_at__isnull=False)
    assert replayed.count() == 2
