import asyncio
import logging
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from delivery import emit, emit_many, metrics
from delivery.exceptions import InvalidEvent, LedgerWriteFailed, ThreadNotFound
from delivery.fastpath.publisher import publisher
from delivery.ledger.selectors import EventState
from delivery.models import DeliveryAttempt, Event, Outcome, Thread
from tests.delivery.wsclient import listen
from tests.ledger import ack, states

pytestmark = pytest.mark.django_db(transaction=True)


def _sample(counter, **labels) -> float:
    return (counter.labels(**labels) if labels else counter)._value.get()


def test_emit_commits_event_with_next_seq(thread):
    first = emit(thread, "agent_started", {"run": 1})
    second = emit(thread.id, "agent_completed", {"answer": 84})
    assert (first.seq, second.seq) == (1, 2)
    thread.refresh_from_db()
    assert thread.last_seq == 2
    assert Event.objects.get(pk=second.pk).payload == {"answer": 84}


def test_emit_many_commits_contiguous_seqs(thread):
    emit(thread, "agent_started", {})
    events = emit_many(thread, [("tool_executing", {"n": i}) for i in range(5)])
    assert [e.seq for e in events] == [2, 3, 4, 5, 6]


def test_emit_many_sends_one_layer_message_with_every_event(thread):
    layer = get_channel_layer()
    channel = listen(thread)
    emit_many(thread, [("tool_executing", {"n": i}) for i in range(3)])
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "ledger.events"
    assert [e["seq"] for e in message["events"]] == [1, 2, 3]
    assert [e["payload"] for e in message["events"]] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_events_with_no_listener_stay_committed_for_resume(thread):
    emit_many(thread, [("a", {}), ("b", {})])
    assert publisher.wait_idle()
    assert states(thread) == {1: EventState.COMMITTED, 2: EventState.COMMITTED}
    assert not DeliveryAttempt.objects.filter(thread=thread).exists()


def test_the_ledger_refuses_to_update_an_event(thread):
    """Append-only is enforced by PostgreSQL, so no code path can mark an event in place."""
    from django.db import DatabaseError

    emit(thread, "a", {})
    with pytest.raises(DatabaseError, match="append-only"):
        Event.objects.filter(thread=thread).update(type="b")
    assert Event.objects.get(thread=thread).type == "a"


def test_sends_and_acks_are_ranges_not_event_writes(thread):
    listen(thread)
    emit_many(thread, [("a", {}), ("b", {})])
    emit(thread, "c", {})
    assert publisher.wait_idle()
    ack(thread, 3)
    thread.refresh_from_db()
    assert thread.acked_seq == 3
    assert states(thread) == {1: EventState.ACKED, 2: EventState.ACKED, 3: EventState.ACKED}


def test_idempotency_key_returns_the_same_event(thread):
    first = emit(thread, "agent_started", {}, idempotency_key="run-1-start")
    again = emit(thread, "agent_started", {}, idempotency_key="run-1-start")
    assert again.event_id == first.event_id
    assert Event.objects.filter(thread=thread).count() == 1
    assert Thread.objects.get(pk=thread.pk).last_seq == 1


def test_emit_to_missing_thread_raises(db):
    with pytest.raises(ThreadNotFound):
        emit("6b1f5d1e-0000-4000-8000-000000000000", "agent_started", {})


@pytest.mark.parametrize(
    "type_, payload",
    [
        ("", {}),
        ("Agent Started", {}),
        (7, {}),
        ("ok", [1, 2]),
        ("ok", {"x": object()}),
        ("ok", {"x": float("nan")}),
        ("ok", {"big": "x" * 300_000}),
    ],
)
def test_invalid_event_is_refused_before_the_ledger(thread, type_, payload):
    with pytest.raises(InvalidEvent):
        emit(thread, type_, payload)
    assert Thread.objects.get(pk=thread.pk).last_seq == 0


def test_failed_commit_raises_and_leaves_no_half_write(thread):
    """A real commit failure: another session holds the thread's row lock past our
    lock_timeout, so the seq allocation itself fails."""
    import psycopg
    from django.db import connection, transaction

    db = connection.settings_dict
    holder = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=False
    )
    holder.execute("SELECT 1 FROM delivery_thread WHERE id = %s FOR UPDATE", [thread.pk])
    try:
        with pytest.raises(LedgerWriteFailed) as failed, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '100ms'")
            emit(thread, "agent_thinking", {"text": "waits for the lock"})
    finally:
        holder.rollback()
        holder.close()
    assert "lock" not in str(failed.value)  # the database's own words stay in the log
    assert Thread.objects.get(pk=thread.pk).last_seq == 0
    assert emit(thread, "agent_thinking", {}).seq == 1


@pytest.fixture
def unreachable_layer(settings):
    from channels.layers import channel_layers

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**config, "hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


def test_failed_fast_path_leaves_event_pending_and_never_raises(thread, unreachable_layer, caplog):
    before = _sample(metrics.events_failed, cause="fast_path")
    with caplog.at_level(logging.ERROR, logger="delivery.fastpath.fanout"):
        event = emit(thread, "agent_completed", {"answer": 84})
        assert publisher.wait_idle()
    assert states(thread) == {event.seq: EventState.COMMITTED}
    [miss] = DeliveryAttempt.objects.filter(thread=thread)
    assert (miss.outcome, miss.connection_id, miss.first_seq) == (Outcome.FAILED, None, 1)
    assert _sample(metrics.events_failed, cause="fast_path") == before + 1
    assert any(
        r.levelno == logging.ERROR and "live send failed" in r.getMessage() for r in caplog.records
    )


def test_concurrent_thread_emitters_keep_seqs_contiguous(thread):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                if i % 5 == 0:
                    emit_many(thread, [("burst", {"w": n, "i": i}), ("burst", {"w": n, "i": i})])
                else:
                    emit(thread, "step", {"w": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    seqs = list(Event.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 6 * 24 + 1))
    assert Thread.objects.get(pk=thread.pk).last_seq == len(seqs)


async def test_async_emit_forms_share_the_ledger(thread):
    from delivery import aemit, aemit_many

    first = await aemit(thread, "agent_started", {})
    rest = await aemit_many(thread, [("a", {}), ("b", {})])
    assert [first.seq, *[e.seq for e in rest]] == [1, 2, 3]
    await asyncio.sleep(0)


def test_idempotency_keys_never_collide_across_batches(thread):
    emit_many(thread, [("a", {}), ("b", {})], idempotency_key="run7")
    single = emit(thread, "c", {}, idempotency_key="run7#1")
    assert single.seq == 3 and single.type == "c"


def test_idempotency_key_reused_for_other_events_is_refused(thread):
    emit(thread, "agent_started", {}, idempotency_key="k")
    with pytest.raises(InvalidEvent):
        emit(thread, "agent_completed", {}, idempotency_key="k")


def test_redelivering_a_dropped_range_sends_it_whatever_its_state(thread):
    from delivery.repair.redelivery import redeliver_range

    events = emit_many(thread, [("a", {}), ("b", {})])
    assert publisher.wait_idle()
    ack(thread, 2)  # another tab acked: a drop on this one must still be repaired
    layer = get_channel_layer()
    channel = listen(thread)
    assert redeliver_range(thread_id=thread.id, first=events[0].seq, last=events[1].seq)
    message = async_to_sync(layer.receive)(channel)
    assert message["trigger"] == "heal"
    assert [e["seq"] for e in message["events"]] == [1, 2]
    [row] = DeliveryAttempt.objects.filter(thread=thread)
    assert (row.trigger, row.first_seq, row.last_seq, row.outcome) == ("heal", 1, 2, "sent")
