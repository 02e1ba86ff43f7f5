"""The reconciler against a real PostgreSQL and Redis, with a client on the real ASGI stack."""

import asyncio
import itertools
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery import emit, emit_many
from delivery.ledger.selectors import EventState
from delivery.models import (
    Connection,
    ConnectionState,
    DeliveryAttempt,
    Event,
    ReconcilerHeartbeat,
    Thread,
    Trigger,
    UndeliveredRange,
)
from delivery.repair.reconcile import reconcile
from monitoring.models import Alert
from tests.delivery.wsclient import connect, db, eventually, receive_events
from tests.ledger import sent, states, status_of
from tests.monitoring.sampling import sample

pytestmark = pytest.mark.django_db(transaction=True)


async def _reconcile_until_undelivered(thread, timeout: float = 8.0) -> None:
    """Beat, compressed: sweep every 50 ms until the thread's event is given up on."""
    undelivered = db(UndeliveredRange.objects.filter(thread=thread).exists)
    deadline = time.monotonic() + timeout
    while not await undelivered() and time.monotonic() < deadline:
        await db(reconcile)()
        await asyncio.sleep(0.05)


async def test_never_acked_event_is_retried_with_backoff_then_undelivered(
    thread, user, fast_timings
):
    fast_timings(ACK_DEADLINE=0.2, RETRY_BUDGET=3)
    failures = sample("silent_failure_detected_total", kind="unacked")
    ws, _ = await connect(thread, user)
    await db(emit)(thread, "agent_completed", {"answer": 84})
    sent_at = [time.monotonic()]
    await receive_events(ws, 1)
    reconciler = asyncio.create_task(_reconcile_until_undelivered(thread))
    while len(sent_at) < 3:
        [frame] = await receive_events(ws, 1, timeout=5)
        assert frame["seq"] == 1
        sent_at.append(time.monotonic())
    await reconciler
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    # Never before schedule: the deadline, then twice the deadline (a little jitter allowed).
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38, gaps
    status = await db(status_of)(thread, 1)
    assert (status.state, len(status.sends)) == (EventState.UNDELIVERED, 3)
    assert status.undelivered_cause == "no ack after 3 sends"
    retries = await db(
        DeliveryAttempt.objects.filter(
            thread=thread, trigger=Trigger.RETRY, connection__isnull=True
        ).count
    )()
    assert retries == 2
    [lost] = await db(lambda: list(UndeliveredRange.objects.filter(thread=thread)))()
    assert (lost.first_seq, lost.last_seq) == (1, 1)
    alert = await db(Alert.objects.get)(kind="undelivered", thread=thread)
    assert (alert.state, alert.count) == ("open", 1)
    assert sample("silent_failure_detected_total", kind="unacked") == failures + 1
    await ws.disconnect()


async def test_offline_thread_waits_for_its_client(thread, fast_timings):
    fast_timings(ACK_DEADLINE=0.05, RETRY_BUDGET=1)
    await db(emit)(thread, "agent_completed", {})
    await asyncio.sleep(0.2)
    await db(reconcile)()
    assert await db(states)(thread) == {1: EventState.COMMITTED}  # waiting, not failed
    assert await db(Alert.objects.count)() == 0


async def test_unsent_events_of_a_live_thread_are_sent(thread, user):
    """Committed while a socket was live, but its fast path never ran (a process died)."""
    ws, _ = await connect(thread, user)
    five_seconds_ago = timezone.now() - timedelta(seconds=5)
    await db(Event.objects.create)(
        thread=thread, seq=1, type="step", payload={}, created_at=five_seconds_ago
    )
    await db(Thread.objects.filter(pk=thread.pk).update)(
        last_seq=1, created_at=five_seconds_ago, last_event_at=five_seconds_ago
    )
    report = await db(reconcile)()
    assert report.pending_sent == 1
    [frame] = await receive_events(ws, 1)
    assert frame["seq"] == 1
    await ws.disconnect()
    status = await db(status_of)(thread, 1)
    assert status.state == EventState.SENT
    assert [(a.trigger, a.connection_id is None) for a in status.attempts] == [
        ("heal", True),  # the reconciler's message to the thread's group
        ("heal", False),  # the frame the socket wrote
    ]


async def test_stalled_run_is_closed_and_the_client_receives_agent_failed(
    thread, user, fast_timings
):
    fast_timings(RUN_TIMEOUT=0.3)
    ws, _ = await connect(thread, user)
    await db(emit)(thread, "agent_started", {"run_id": "run-7"})
    await receive_events(ws, 1)
    await asyncio.sleep(0.4)
    await db(reconcile)()
    await db(reconcile)()  # a second sweep (or a second reconciler) emits nothing more
    [frame] = await receive_events(ws, 1)
    assert (frame["seq"], frame["event"]) == (2, "agent_failed")
    assert frame["payload"] == {"reason": "timeout", "run_id": "run-7"}
    assert await ws.receive_nothing(timeout=0.3)
    assert await db(Event.objects.filter(thread=thread, type="agent_failed").count)() == 1
    assert await db(Alert.objects.filter(kind="stalled_run", thread=thread).exists)()
    await ws.disconnect()


async def test_finished_run_is_left_alone(thread, fast_timings):
    fast_timings(RUN_TIMEOUT=0.1)
    await db(emit_many)(thread, [("agent_started", {}), ("agent_completed", {})])
    await asyncio.sleep(0.2)
    report = await db(reconcile)()
    assert report.runs_closed == 0


async def test_connection_rows_with_a_stopped_heartbeat_are_marked_dead(thread, user, fast_timings):
    fast_timings(PING_INTERVAL=0.1, PING_TIMEOUT=0.2, HEARTBEAT_PERSIST_INTERVAL=0.1)
    stale = await db(Connection.objects.create)(thread=thread, user=user)
    fresh = await db(Connection.objects.create)(thread=thread, user=user)
    old = timezone.now() - timedelta(seconds=1)
    await db(Connection.objects.filter(pk=stale.pk).update)(last_seen_at=old)
    report = await db(reconcile)()
    assert report.connections_dead == 1
    assert (await db(Connection.objects.get)(pk=stale.pk)).state == ConnectionState.DEAD
    assert (await db(Connection.objects.get)(pk=fresh.pk)).state == ConnectionState.LIVE


async def test_half_open_client_is_found_and_gets_its_events_on_next_connect(
    thread, user, fast_timings
):
    fast_timings(PING_INTERVAL=0.3, PING_TIMEOUT=1.0)
    ws, _ = await connect(thread, user)
    started = time.monotonic()
    await db(emit)(thread, "agent_completed", {"answer": 1})
    while (frame := await ws.receive_output(timeout=3))["type"] != "websocket.close":
        pass  # it stops answering pings, but never closes
    assert frame["code"] == 4408
    # The first ping goes an interval after connect, the silence is noticed at the first beat
    # past the timeout: two intervals and the timeout, plus slack for a loaded machine.
    assert time.monotonic() - started <= 2 * 0.3 + 1.0 + 0.5
    await ws.disconnect(code=4408)
    await db(emit)(thread, "agent_followup", {"answer": 2})
    ws, _ = await connect(thread, user)
    frames = await receive_events(ws, 2)
    assert [f["seq"] for f in frames] == [1, 2]
    await ws.disconnect()


async def test_reconciler_records_its_heartbeat():
    await db(reconcile)()
    beat = await db(ReconcilerHeartbeat.objects.get)(name="reconciler")
    assert (timezone.now() - beat.last_finished_at).total_seconds() < 5
    assert "retried" in beat.last_report


async def test_dead_connections_leave_their_thread_group(thread, user, fast_timings):
    """A crashed daphne's channels stop receiving (and overflowing) the thread's sends."""
    from channels.layers import get_channel_layer

    from delivery.fastpath.frames import group_name

    fast_timings(PING_INTERVAL=0.1, PING_TIMEOUT=0.2, HEARTBEAT_PERSIST_INTERVAL=0.1)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(thread.id), channel)
    row = await db(Connection.objects.create)(thread=thread, user=user, channel_name=channel)
    old = timezone.now() - timedelta(seconds=1)
    await db(Connection.objects.filter(pk=row.pk).update)(last_seen_at=old)
    assert (await db(reconcile)()).connections_dead == 1
    await layer.group_send(group_name(thread.id), {"type": "ledger.events", "events": []})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.5)


async def test_one_sweep_resends_each_live_thread_its_own_overdue_events(user, fast_timings):
    """Every thread's retry goes out in the same sweep, to its own group, recorded once."""
    from channels.layers import get_channel_layer

    from delivery.fastpath.frames import group_name
    from delivery.fastpath.publisher import publisher
    from tests.factories import ThreadFactory

    fast_timings(ACK_DEADLINE=0.05, RETRY_BUDGET=5)
    layer, threads = get_channel_layer(), await db(ThreadFactory.create_batch)(3, owner=user)
    channels = {}
    for n, thread in enumerate(threads, 1):
        await db(emit_many)(thread, [("step", {"i": i}) for i in range(n)])
        assert await db(publisher.wait_idle)()  # nobody listens yet: the fast path sends nothing
        channels[thread.id] = await layer.new_channel()
        await layer.group_add(group_name(thread.id), channels[thread.id])
        row = await db(Connection.objects.create)(thread=thread, user=user, sent_seq=n)
        await db(sent)(thread, 1, n, connection=row)  # its socket wrote them, no ack came
    await asyncio.sleep(0.1)
    report = await db(reconcile)()
    assert report.retried == 1 + 2 + 3
    for n, thread in enumerate(threads, 1):
        message = await asyncio.wait_for(layer.receive(channels[thread.id]), timeout=2)
        assert [frame["seq"] for frame in message["events"]] == list(range(1, n + 1))
        assert message["trigger"] == Trigger.RETRY
    rows = await db(
        lambda: list(
            DeliveryAttempt.objects.filter(trigger=Trigger.RETRY).values_list(
                "first_seq", "last_seq", "connection_id"
            )
        )
    )()
    assert sorted(rows) == [(1, 1, None), (1, 2, None), (1, 3, None)]


async def test_events_a_socket_resumed_past_without_a_recorded_send_are_retried(thread, user):
    """A daphne died before writing down what it sent; the client resumes past it and its ack
    is refused. The reconciler retries them on the new socket, whose ack then settles them."""
    await db(emit_many)(thread, [("step", {"i": i}) for i in range(3)])
    ws, _ = await connect(thread, user, after=3)
    await ws.send_json_to({"type": "ack", "seq": 3})
    refused = await ws.receive_json_from(timeout=3)
    assert refused["code"] == "ack_beyond_sent"
    report = await db(reconcile)()
    assert report.retried == 3
    frames = await receive_events(ws, 3)
    assert [f["seq"] for f in frames] == [1, 2, 3]
    await ws.send_json_to({"type": "ack", "seq": 3})
    await ws.disconnect()
    assert (await db(Thread.objects.get)(pk=thread.pk)).acked_seq == 3


async def test_a_thread_not_yet_due_waits_for_its_time_or_its_next_event(
    thread, user, fast_timings
):
    """The reconciler reads an in-flight thread once per decision, not on every sweep."""
    import uuid

    from delivery.repair.reconcile import _candidates

    fast_timings(ACK_DEADLINE=30.0)
    ws, _ = await connect(thread, user)
    await db(emit)(thread, "step", {})
    await receive_events(ws, 1)  # never acked
    sent_rows = db(DeliveryAttempt.objects.filter(thread=thread).exists)
    assert await eventually(sent_rows)
    candidates = db(lambda: _candidates(uuid.UUID(int=0)))
    assert await candidates() == [thread.id]
    await db(reconcile)()
    row = await db(Thread.objects.get)(pk=thread.pk)
    assert (row.reconcile_after - timezone.now()).total_seconds() > 20  # its ack deadline
    assert await candidates() == []
    await db(emit)(thread, "step", {})  # something new to look at
    assert await candidates() == [thread.id]
    await ws.disconnect()
