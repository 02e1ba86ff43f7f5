"""The timeline's one-line answer to "did the user see it, and if not, why?"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from console.timeline import EventFilter, build
from console.why import explain
from delivery import emit
from delivery.models import Connection, Trigger
from tests.factories import ThreadFactory
from tests.ledger import ack, sent, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_event(thread):
    event = emit(thread, "agent_completed", {})
    sent(thread, 1, 1, at=timezone.now() - timedelta(seconds=60))
    return event


def _conn(thread, **fields):
    conn = Connection.objects.create(thread=thread, user=thread.owner)
    Connection.objects.filter(pk=conn.pk).update(**fields)
    conn.refresh_from_db()
    return conn


def test_sent_to_a_connection_that_died_and_waiting_for_the_client(thread, sent_event):
    now = timezone.now()
    conn = _conn(
        thread,
        opened_at=now - timedelta(seconds=90),
        state="dead",
        closed_at=now - timedelta(seconds=57),
        close_code=4408,
        close_reason="no pong",
    )
    why = explain(status_of(thread, 1), [conn], live=False)
    assert why.startswith("sent once (last ")
    assert "to a connection that died (no pong) with code 4408 3 s later, never acked" in why
    assert f"waiting for client since {conn.closed_at:%H:%M:%S}" in why


def test_sent_to_the_live_connection_without_an_ack(thread, sent_event):
    conn = _conn(thread, opened_at=timezone.now() - timedelta(seconds=90), acked_seq=0)
    why = explain(status_of(thread, 1), [conn], live=True)
    assert "to the live connection" in why and "no ack for 60 s" in why


def test_committed_while_nobody_was_connected(thread):
    emit(thread, "agent_step", {})
    assert explain(status_of(thread, 1), [], live=False) == (
        "committed while no client was connected; goes out on next connect"
    )


def test_acknowledged_events_need_no_explanation(thread):
    emit(thread, "agent_step", {})
    sent(thread, 1, 1)
    ack(thread, 1)
    assert explain(status_of(thread, 1), [], live=False) == ""


@pytest.mark.parametrize("trigger", [Trigger.RESUME, Trigger.HEAL, Trigger.POLL])
def test_an_event_shows_its_first_send_and_connection_whatever_sent_it(support, thread, trigger):
    """Resume, gap healing and the long poll each write their send on the event's funnel."""
    emit(thread, "agent_step", {})
    conn = _conn(thread, opened_at=timezone.now(), transport="longpoll")
    first = sent(thread, 1, 1, connection=conn, trigger=trigger)
    sent(thread, 1, 1, trigger=Trigger.RETRY, at=timezone.now() + timedelta(seconds=9))
    status = status_of(thread, 1)
    assert (status.first_sent_at, status.sends[0].connection_id) == (first.created_at, conn.pk)
    page = support.get(f"/console/threads/{thread.pk}/").content.decode()
    row = page.split('id="seq-1"')[1].split("</li>")[0]
    assert f"sent {first.created_at:%H:%M:%S}" in row
    assert trigger in row and str(conn.pk)[:8] in row
    assert "2 attempts" in row  # each attempt is listed, the retry too


def test_timeline_merges_everything_newest_first(thread, sent_event):
    _conn(thread, opened_at=timezone.now(), closed_at=timezone.now(), state="closed")
    timeline = build(thread.pk)
    assert [e.kind for e in timeline.entries] == ["disconnect", "connect", "event"]
    assert [e.seq for e in timeline.open_events] == [sent_event.seq]


def test_unknown_thread_is_a_404_page(support):
    other = ThreadFactory()
    other_id = other.pk
    other.delete()
    assert support.get(f"/console/threads/{other_id}/").status_code == 404


def test_runs_of_one_type_collapse_and_expand_with_their_states(support, thread):
    emit(thread, "agent_started", {})
    for i in range(6):
        emit(thread, "tool_executing", {"i": i})
    emit(thread, "agent_completed", {})
    sent(thread, 1, 8)
    ack(thread, 5)
    timeline = build(thread.pk)
    kinds = [(e.kind, e.extra.get("type")) for e in timeline.entries]
    assert kinds == [("event", None), ("run", "tool_executing"), ("event", None)]
    run = timeline.entries[1].extra
    assert (run["count"], run["first"], run["last"]) == (6, 2, 7)
    assert run["states"] == "4 acked, 2 sent" and run["open"]  # unacked: opens by default
    page = support.get(f"/console/threads/{thread.pk}/").content.decode()
    assert "<details open>" in page and "×6, #2–#7, 4 acked, 2 sent" in page  # noqa: RUF001
    assert 'id="seq-7"' in page  # the members are there, inside the run


def test_filters_show_only_the_events_of_a_type_and_state(support, thread):
    emit(thread, "agent_started", {})
    emit(thread, "tool_executing", {})
    emit(thread, "agent_completed", {})
    sent(thread, 1, 3)
    ack(thread, 2)
    by_type = build(thread.pk, flt=EventFilter(type="tool_executing"))
    assert [e.obj.seq for e in by_type.entries] == [2]
    unacked = build(thread.pk, flt=EventFilter(state="unacked"))
    assert [e.obj.seq for e in unacked.entries] == [3]
    page = support.get(f"/console/threads/{thread.pk}/", {"state": "acked"}).content.decode()
    assert 'id="seq-2"' in page and 'id="seq-3"' not in page
    bad = support.get(f"/console/threads/{thread.pk}/", {"state": "purple"})
    assert bad.status_code == 400


def test_each_attempt_shows_its_trigger_connection_outcome_and_ack(support, thread):
    emit(thread, "agent_completed", {})
    base = thread.created_at
    first = _conn(thread, opened_at=base + timedelta(seconds=1), transport="longpoll")
    second = _conn(thread, opened_at=base + timedelta(seconds=3))
    sent(thread, 1, 1, connection=first, trigger=Trigger.POLL, at=base + timedelta(seconds=2))
    sent(thread, 1, 1, connection=second, trigger=Trigger.RESUME, at=base + timedelta(seconds=4))
    ack(thread, 1, connection_id=second.pk, at=base + timedelta(seconds=5))
    event = next(e.obj for e in build(thread.pk).entries if e.kind == "event")
    assert [(r.attempt.trigger, r.attempt.connection_id) for r in event.history] == [
        ("poll", first.pk),
        ("resume", second.pk),
    ]
    assert event.history[0].acked_at is None
    assert event.history[1].acked_at == base + timedelta(seconds=5)
    page = support.get(f"/console/threads/{thread.pk}/").content.decode()
    assert "long-poll session <code>" + str(first.pk)[:8] in page  # a poll is a connection
    assert "poll opened" in page
