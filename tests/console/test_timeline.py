"""The timeline's one-line answer to "did the user see it, and if not, why?"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from console.timeline import build, explain
from delivery.models import Connection, Event
from tests.factories import ThreadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_event(thread):
    now = timezone.now()
    return Event.objects.create(
        thread=thread,
        seq=1,
        type="agent_completed",
        state="sent",
        attempts=1,
        first_sent_at=now - timedelta(seconds=60),
        last_sent_at=now - timedelta(seconds=60),
    )


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
    why = explain(sent_event, [conn], live=False)
    assert why.startswith("sent once (last ")
    assert "to a connection that died (no pong) with code 4408 3 s later, never acked" in why
    assert f"waiting for client since {conn.closed_at:%H:%M:%S}" in why


def test_sent_to_the_live_connection_without_an_ack(thread, sent_event):
    conn = _conn(thread, opened_at=timezone.now() - timedelta(seconds=90), acked_seq=0)
    why = explain(sent_event, [conn], live=True)
    assert "to the live connection" in why and "no ack for 60 s" in why


def test_committed_while_nobody_was_connected(thread):
    event = Event.objects.create(thread=thread, seq=1, type="agent_step")
    assert explain(event, [], live=False) == (
        "committed while no client was connected; goes out on next connect"
    )


def test_acknowledged_events_need_no_explanation(thread):
    event = Event.objects.create(thread=thread, seq=1, type="agent_step", state="acked")
    assert explain(event, [], live=False) == ""


def test_timeline_merges_everything_newest_first(thread, sent_event):
    _conn(thread, opened_at=timezone.now(), closed_at=timezone.now(), state="closed")
    timeline = build(thread.pk)
    assert [e.kind for e in timeline.entries] == ["disconnect", "connect", "event"]
    assert timeline.open_events == [sent_event]


def test_unknown_thread_is_a_404_page(support):
    other = ThreadFactory()
    other_id = other.pk
    other.delete()
    assert support.get(f"/console/threads/{other_id}/").status_code == 404
