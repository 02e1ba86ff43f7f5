import asyncio
import threading
import time

import pytest
from channels.layers import channel_layers
from django.db import connection

from delivery import emit, emit_many, metrics
from delivery.ledger.selectors import EventState
from delivery.models import AckRange, Connection, ConnectionState, DeliveryAttempt, Event, Thread
from tests.delivery.wsclient import connect, db, eventually, receive_events, send
from tests.ledger import ack, states

pytestmark = pytest.mark.django_db(transaction=True)

emit_async = db(emit)
emit_many_async = db(emit_many)


async def test_hello_reports_thread_position(thread, user):
    await emit_many_async(thread, [("a", {}), ("b", {})])
    ws, hello = await connect(thread, user, after=2)
    assert hello == {"type": "hello", "thread": str(thread.id), "last_seq": 2, "resumed_from": 2}
    await ws.disconnect()


async def test_live_event_reaches_the_client_with_its_ledger_fields(thread, user):
    ws, _ = await connect(thread, user)
    event = await emit_async(thread, "agent_completed", {"answer": 84})
    [frame] = await receive_events(ws, 1)
    assert frame == {
        "type": "event",
        "seq": 1,
        "id": str(event.event_id),
        "event": "agent_completed",
        "payload": {"answer": 84},
        "ts": event.created_at.isoformat(),
        "replay": False,
    }
    await ws.disconnect()


async def test_resume_after_n_delivers_exactly_the_later_events_in_order(thread, user):
    await emit_many_async(thread, [("step", {"i": i}) for i in range(1, 11)])
    ws, hello = await connect(thread, user, after=6)
    assert hello["resumed_from"] == 6
    frames = await receive_events(ws, 4)
    assert [f["seq"] for f in frames] == [7, 8, 9, 10]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_resume_frame_backfills_from_the_ledger(thread, user):
    await emit_many_async(thread, [("step", {}) for _ in range(5)])
    ws, _ = await connect(thread, user, after=5)
    await send(ws, {"type": "resume", "after": 2})
    frames = await receive_events(ws, 3)
    assert [f["seq"] for f in frames] == [3, 4, 5]
    await ws.disconnect()


async def test_fresh_client_resumes_from_the_acked_watermark(thread, user):
    await emit_many_async(thread, [("step", {}) for _ in range(4)])
    await db(ack)(thread, 2)
    ws, hello = await connect(thread, user)
    assert hello["resumed_from"] == 2
    assert [f["seq"] for f in await receive_events(ws, 2)] == [3, 4]
    await ws.disconnect()


async def test_subscribe_then_backfill_loses_nothing_emitted_during_connect(thread, user):
    total = 120
    done = threading.Event()

    def emitter():
        for i in range(total):
            emit(thread, "step", {"i": i})
            time.sleep(0.002)
        connection.close()
        done.set()

    producer = threading.Thread(target=emitter)
    producer.start()
    await asyncio.sleep(0.05)  # connect in the middle of the stream
    ws, _ = await connect(thread, user, after=0)
    frames = await receive_events(ws, total, timeout=10)
    producer.join()
    assert [f["seq"] for f in frames] == list(range(1, total + 1))
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_duplicate_live_event_is_dropped(thread, user):
    ws, _ = await connect(thread, user)
    event = await emit_async(thread, "step", {})
    await receive_events(ws, 1)
    before = metrics.duplicates_dropped._value.get()
    layer = channel_layers["default"]
    from delivery.fastpath.frames import events_message, group_name

    await layer.group_send(group_name(thread.id), events_message([event], trigger="live"))
    assert await ws.receive_nothing(timeout=0.3)
    assert metrics.duplicates_dropped._value.get() == before + 1
    await ws.disconnect()


async def test_acks_are_persisted_in_one_batch(thread, user):
    ws, _ = await connect(thread, user)
    await emit_many_async(thread, [("step", {}) for _ in range(5)])
    await receive_events(ws, 5)
    await send(ws, {"type": "ack", "seq": 3})
    await send(ws, {"type": "ack", "seq": 5})
    await asyncio.sleep(0.4)
    assert set((await db(states)(thread)).values()) == {EventState.ACKED}
    [moved] = await db(lambda: list(AckRange.objects.filter(thread=thread)))()
    row = await db(Connection.objects.get)(thread=thread)
    assert (moved.above, moved.upto, moved.connection_id) == (0, 5, row.pk)
    assert (row.sent_seq, row.acked_seq) == (5, 5)
    await ws.disconnect()


async def test_acks_are_flushed_on_disconnect(thread, user):
    ws, _ = await connect(thread, user)
    await emit_async(thread, "step", {})
    await receive_events(ws, 1)
    await send(ws, {"type": "ack", "seq": 1})
    await ws.disconnect()
    assert (await db(Thread.objects.get)(pk=thread.pk)).acked_seq == 1


async def test_connection_row_records_open_and_close(thread, user):
    ws, _ = await connect(thread, user, after=0)
    row = await db(Connection.objects.get)(thread=thread)
    assert row.state == ConnectionState.LIVE and row.resumed_from == 0
    await ws.disconnect(code=1000)
    await db(row.refresh_from_db)()
    assert row.state == ConnectionState.CLOSED
    assert row.close_code == 1000


async def test_redelivery_is_sent_even_at_or_below_sent_seq(thread, user):
    ws, _ = await connect(thread, user)
    event = await emit_async(thread, "step", {})
    await receive_events(ws, 1)
    from delivery.fastpath.fanout import apublish

    await apublish(thread.id, [event], trigger="replay")
    [frame] = await receive_events(ws, 1)
    assert frame["seq"] == 1 and frame["replay"] is True
    await ws.disconnect()


async def test_message_frame_records_the_users_turn_once(thread, user, without_agent):
    ws, _ = await connect(thread, user)
    for _ in range(2):
        await send(ws, {"type": "message", "text": "what is 12*7", "client_id": "c-1"})
    [frame] = await receive_events(ws, 1)
    assert frame["event"] == "user_message" and frame["payload"]["text"] == "what is 12*7"
    assert await ws.receive_nothing(timeout=0.3)
    assert await db(Event.objects.filter(thread=thread).count)() == 1
    await ws.disconnect()


async def test_silent_client_is_closed_and_marked_dead(thread, user, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "PING_INTERVAL": 0.1, "PING_TIMEOUT": 0.4}
    ws, _ = await connect(thread, user)
    frames = []
    while True:
        frame = await ws.receive_output(timeout=3)
        frames.append(frame)
        if frame["type"] == "websocket.close":
            break
    assert frame["code"] == 4408
    assert any('"ping"' in f.get("text", "") for f in frames)
    await ws.disconnect(code=4408)
    row = await db(Connection.objects.get)(thread=thread)
    assert row.state == ConnectionState.DEAD
    assert row.close_code == 4408


async def test_pongs_keep_a_client_alive(thread, user, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "PING_INTERVAL": 0.1, "PING_TIMEOUT": 0.4}
    ws, _ = await connect(thread, user)
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        frame = await ws.receive_json_from(timeout=1)
        assert frame["type"] == "ping"
        await send(ws, {"type": "pong", "t": frame["t"]})
    await ws.disconnect()


async def test_resume_records_a_delivery_attempt_on_its_connection(thread, user):
    await emit_many_async(thread, [("step", {}) for _ in range(3)])
    ws, _ = await connect(thread, user, after=1)
    await receive_events(ws, 2)
    attempt = await eventually(db(DeliveryAttempt.objects.filter(thread=thread).first))
    row = await db(Connection.objects.get)(thread=thread)
    assert (attempt.trigger, attempt.first_seq, attempt.last_seq, attempt.event_count) == (
        "resume",
        2,
        3,
        2,
    )
    assert (attempt.connection_id, attempt.outcome) == (row.pk, "sent")
    await ws.disconnect()


async def test_live_frames_are_recorded_as_one_range_per_flush(thread, user):
    ws, _ = await connect(thread, user)
    for i in range(6):
        await emit_async(thread, "step", {"i": i})
    await receive_events(ws, 6)
    await ws.disconnect()
    rows = await db(lambda: list(DeliveryAttempt.objects.filter(thread=thread)))()
    assert {(a.trigger, a.outcome) for a in rows} == {("live", "sent")}
    covered = sorted(seq for a in rows for seq in range(a.first_seq, a.last_seq + 1))
    assert covered == [1, 2, 3, 4, 5, 6]
    assert len(rows) < 6  # ranges, not a row per event


async def test_ack_beyond_what_was_sent_is_refused(thread, user):
    """A client that claims ?after=5 was never sent 1..5: its `ack 5` must not settle them."""
    await emit_many_async(thread, [("step", {}) for _ in range(5)])
    ws, hello = await connect(thread, user, after=5)
    assert hello["resumed_from"] == 5
    await send(ws, {"type": "ack", "seq": 5})
    frame = await ws.receive_json_from(timeout=3)
    assert (frame["type"], frame["code"]) == ("error", "ack_beyond_sent")
    await ws.disconnect()
    assert (await db(Thread.objects.get)(pk=thread.pk)).acked_seq == 0
    assert set((await db(states)(thread)).values()) == {EventState.COMMITTED}


async def test_ack_of_what_an_earlier_socket_was_sent_is_accepted(thread, user):
    ws, _ = await connect(thread, user)
    await emit_many_async(thread, [("step", {}) for _ in range(3)])
    await receive_events(ws, 3)
    await ws.disconnect()  # the client had them, but its ack never left
    ws, _ = await connect(thread, user, after=3)
    await send(ws, {"type": "ack", "seq": 3})
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()
    assert (await db(Thread.objects.get)(pk=thread.pk)).acked_seq == 3


async def test_pong_persists_the_heartbeat(thread, user, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "HEARTBEAT_PERSIST_INTERVAL": 0.0}
    ws, _ = await connect(thread, user)
    opened = (await db(Connection.objects.get)(thread=thread)).last_seen_at
    await asyncio.sleep(0.05)
    await send(ws, {"type": "pong", "t": 1})

    async def seen_later():
        return (await db(Connection.objects.get)(thread=thread)).last_seen_at > opened

    assert await eventually(seen_later)
    await ws.disconnect()


async def test_purged_history_gets_a_resync(thread, user):
    await emit_many_async(thread, [("step", {}) for _ in range(5)])
    await db(Event.objects.filter(thread=thread).delete)()  # retention removed them all
    ws, _ = await connect(thread, user, after=2)
    frame = await ws.receive_json_from(timeout=3)
    assert frame == {"type": "resync", "from": 2, "to": 5, "reason": "retention"}
    await ws.disconnect()
