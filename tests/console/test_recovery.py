"""Replay, round two: recover since a time, never acknowledged events by default (a warning
first when an operator picks them), a dry run that is a summary with the form on top and every
event paged below, outcomes that say what happened and follow to the ack, and paced waves."""

import pytest
from django.utils import timezone

from console import outcomes, pacing, services
from console.exceptions import ReplayRefused
from console.models import PacedReplay
from delivery import emit, emit_many
from delivery.models import Connection, ReplayRequest, Trigger, UndeliveredRange
from delivery.repair import replay
from tests.factories import ThreadFactory
from tests.ledger import ack, sent

pytestmark = pytest.mark.django_db


def plan(**scope):
    return services.plan_replay(scope=scope)


def test_a_range_never_includes_acknowledged_events_unless_asked(troubled_thread):
    thread = str(troubled_thread.pk)
    default = plan(scope="range", thread=thread, first="1", last="5")
    assert [e.seq for e in default.plan.events] == [4, 5]
    assert default.left_out == {"acked": 3}
    asked = plan(scope="range", thread=thread, first="1", last="5", states="acked")
    assert [e.seq for e in asked.plan.events] == [1, 2, 3] and asked.includes_acked


def test_picking_acknowledged_events_shows_a_warning_first(admin, troubled_thread):
    query = {"scope": "range", "thread": str(troubled_thread.pk), "first": "1", "last": "5"}
    page = admin.get("/console/replays/dry-run", query).content.decode()
    assert "3 acked" in page and "Include the acknowledged ones" in page
    warned = admin.get("/console/replays/dry-run", {**query, "states": "acked,undelivered"})
    html = warned.content.decode()
    assert "These include acknowledged events" in html and 'name="reason"' not in html
    confirmed = admin.get(
        "/console/replays/dry-run", {**query, "states": "acked,undelivered", "acked_ok": "1"}
    ).content.decode()
    assert "Replay 5 events" in confirmed and 'name="acked_ok" value="1"' in confirmed


def test_a_replay_of_acknowledged_events_needs_the_servers_confirmation(
    admin, admin_user, troubled_thread
):
    scope = {"scope": "range", "thread": str(troubled_thread.pk), "first": "1", "last": "5",
             "states": "acked,undelivered"}  # fmt: skip
    with pytest.raises(ReplayRefused) as refused:
        services.request_replay(scope=scope, actor=admin_user, reason="ticket 88")
    assert refused.value.code == "acked_unconfirmed"

    page = admin.post(
        "/console/replays/new", {**scope, "reason": "ticket 88"}
    )  # a forged form post
    api = admin.post("/console/api/replays", {**scope, "reason": "ticket 88"},
                     content_type="application/json")  # fmt: skip

    assert page.status_code == 400 and "These include acknowledged events" in page.text
    assert api.status_code == 400 and api.json()["error"] == "acked_unconfirmed"
    assert not ReplayRequest.objects.exists()
    confirmed = admin.post("/console/api/replays",
                           {**scope, "reason": "ticket 88", "acked_ok": True},
                           content_type="application/json")  # fmt: skip
    assert confirmed.status_code == 202
    assert ReplayRequest.objects.get().items.count() == 5


def test_the_search_replay_leaves_out_events_already_replayed(troubled_thread):
    UndeliveredRange.objects.filter(thread=troubled_thread).update(reopened_at=timezone.now())
    sent(troubled_thread, 4, 5, trigger=Trigger.REPLAY)  # a replay reopened them: now "sent"
    scoped = plan(scope="filter", q="alice", states="undelivered")
    assert scoped.plan.events == []


def test_recover_since_takes_a_users_unacked_events_between_two_times(troubled_thread):
    since = timezone.now()  # seq 1-5 of alice's first thread were emitted before
    later = ThreadFactory(owner=troubled_thread.owner, title="second thread")
    emit_many(later, [("agent_step", {}), ("agent_completed", {})])
    sent(later, 1, 2)
    emit(troubled_thread, "agent_failed", {})  # seq 6, never sent
    scoped = plan(
        scope="filter",
        q="alice",
        states="undelivered,sent,committed",
        **{"from": since.isoformat()},
    )
    found = sorted(
        (e.thread_id == later.pk, e.seq, str(e.status.state)) for e in scoped.plan.events
    )
    assert found == [(False, 6, "committed"), (True, 1, "sent"), (True, 2, "sent")]
    assert plan(scope="filter", q="alice", states="undelivered").plan.events[0].seq == 4


def test_recover_between_two_times_stops_at_to_and_takes_only_the_owners_threads(
    troubled_thread,
):
    alice = troubled_thread.owner
    since = timezone.now()
    emit(troubled_thread, "agent_failed", {})  # seq 6: inside the span
    until = timezone.now()
    emit(troubled_thread, "agent_completed", {})  # seq 7: after `to`
    ThreadFactory(title="alice's refund, filed by a colleague")  # names her; not hers
    between = {"from": since.isoformat(), "to": until.isoformat()}

    by_owner = plan(scope="filter", owner=alice.username, states="committed", **between)

    assert [(e.thread_id, e.seq) for e in by_owner.plan.events] == [(troubled_thread.pk, 6)]
    assert by_owner.plan.detail["owner"] == "alice"  # the confirm form carries it on


def test_the_dry_run_is_a_summary_with_the_form_on_top_and_every_event_paged(
    admin, troubled_thread
):
    emit_many(troubled_thread, [("tool_executing", {"i": i}) for i in range(230)])
    query = {"scope": "thread", "thread": str(troubled_thread.pk)}
    html = admin.get("/console/replays/dry-run", query).content.decode()
    assert html.index('name="reason"') < html.index('id="plan-events"')
    assert "#4–235" in html  # noqa: RUF001 (the thread's seq range)
    assert "tool_executing" in html and "page 1 of 3" in html
    assert html.count('<td class="num">') >= 100 and "Next →" in html
    assert "the replay is paced" in html
    third = admin.get("/console/replays/dry-run", {**query, "page": "3"}).content.decode()
    assert "page 3 of 3" in third and ">235<" in third


def test_outcomes_say_what_happened_and_follow_to_the_ack(admin_user, troubled_thread):
    scoped = plan(scope="thread", thread=str(troubled_thread.pk))
    job = replay.request_replay(plan=scoped.plan, actor=admin_user, reason="SUP-3")
    replay.run_replay(replay_id=job.pk)
    job.refresh_from_db()
    said = [s.said() for s in outcomes.stories(job, list(job.items.select_related("thread")))]
    assert said == ["queued for next connect → not acked yet"] * 2
    tally = outcomes.tally([job])
    assert (tally.live, tally.queued, tally.acked, tally.sockets) == (0, 2, 0, 0)
    conn = Connection.objects.create(thread=troubled_thread, user=troubled_thread.owner)
    sent(troubled_thread, 4, 5, connection=conn, trigger=Trigger.RESUME)
    ack(troubled_thread, 5, connection_id=conn.pk)
    troubled_thread.refresh_from_db()
    items = list(job.items.select_related("thread"))
    said = [s.said() for s in outcomes.stories(job, items)]
    assert said[0].startswith("queued for next connect → delivered on reconnect ")
    assert " → acked " in said[0] and outcomes.tally([job]).acked == 2


def test_a_live_replay_counts_the_sockets_that_wrote_it(admin_user, troubled_thread):
    sockets = [
        Connection.objects.create(thread=troubled_thread, user=troubled_thread.owner)
        for _ in range(2)
    ]
    scoped = plan(scope="thread", thread=str(troubled_thread.pk))
    job = replay.request_replay(plan=scoped.plan, actor=admin_user, reason="SUP-4")
    replay.run_replay(replay_id=job.pk)
    for socket in sockets:  # what each consumer records when it writes the replayed frames
        sent(troubled_thread, 4, 5, connection=socket, trigger=Trigger.REPLAY)
    job.refresh_from_db()
    stories = outcomes.stories(job, list(job.items.select_related("thread")))
    assert [s.said() for s in stories] == ["delivered live to 2 sockets → not acked yet"] * 2
    assert outcomes.tally([job]).sockets == 2


def test_a_large_replay_is_paced_in_waves(admin_user, troubled_thread):
    emit_many(troubled_thread, [("tool_executing", {"i": i}) for i in range(448)])
    scope = {"scope": "thread", "thread": str(troubled_thread.pk)}
    paced = services.request_replay(scope=scope, actor=admin_user, reason="SUP-5 bulk")
    assert isinstance(paced, PacedReplay) and not ReplayRequest.objects.exists()
    assert (paced.planned_events, paced.wave_count) == (450, 3)
    first = pacing.send_wave(paced.pk, 0)
    assert pacing.send_wave(paced.pk, 0) is None  # a repeated task sends nothing twice
    assert first.next_wave == 1 and ReplayRequest.objects.get().planned_events == 200
    ack(troubled_thread, 210)  # the client caught up on #204-210 of the second wave meanwhile
    second = pacing.send_wave(paced.pk, 1)
    wave_two = ReplayRequest.objects.order_by("pk").last()
    assert wave_two.planned_events == 193 and second.skipped == 7
    assert (
        wave_two.scope_detail["paced"] == str(paced.pk) and wave_two.scope_detail["wave"] == "2/3"
    )
    pacing.cancel_paced(paced_id=paced.pk, actor=admin_user)
    cancelled = pacing.send_wave(paced.pk, 2)
    assert cancelled.state == "cancelled" and ReplayRequest.objects.count() == 2
    assert {r.state for r in ReplayRequest.objects.all()} == {"cancelling"}


def test_the_paced_page_and_api_show_the_waves(admin, admin_user, troubled_thread):
    emit_many(troubled_thread, [("tool_executing", {"i": i}) for i in range(300)])
    scope = {"scope": "thread", "thread": str(troubled_thread.pk)}
    paced = services.request_replay(scope=scope, actor=admin_user, reason="SUP-6")
    pacing.send_wave(paced.pk, 0)
    page = admin.get(f"/console/replays/paced/{paced.pk}/").content.decode()
    assert "1 of 2 waves sent" in page and "SUP-6" in page
    data = admin.get(f"/console/api/replays/paced/{paced.pk}").json()
    assert (data["waves"], data["waves_sent"], data["tally"]["planned"]) == (2, 1, 200)
