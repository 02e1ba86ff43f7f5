"""The socket's and the poll's decisions, without sockets: resume, resync and heal."""

from hypothesis import given
from hypothesis import strategies as st

from delivery.wire import resync
from delivery.wire.resync import Heal, Resume, Resync, Write


def frames(*seqs):
    return [{"seq": seq} for seq in seqs]


def test_a_client_behind_gets_what_it_lacks():
    assert resync.plan_resume(after=3, last=7, first_retained=1) == Resume(3, 7)


def test_a_client_ahead_of_the_ledger_is_told_and_moved_back():
    plan = resync.plan_resume(after=9, last=7, first_retained=1)

    assert plan == Resume(7, 7, Resync(7, 9, resync.AHEAD_OF_LEDGER))
    assert plan.resync.frame() == {
        "type": "resync",
        "from": 7,
        "to": 9,
        "reason": "ahead_of_ledger",
    }


def test_a_client_behind_retention_skips_the_pruned_seqs():
    assert resync.plan_resume(after=2, last=9, first_retained=6) == Resume(
        5, 9, Resync(2, 5, resync.RETENTION)
    )


def test_nothing_retained_moves_the_client_to_the_end():
    assert resync.plan_resume(after=0, last=4, first_retained=None) == Resume(
        4, 4, Resync(0, 4, resync.RETENTION)
    )


def test_a_client_up_to_date_gets_nothing():
    assert resync.plan_resume(after=4, last=4, first_retained=None) == Resume(4, 4)


def test_live_frames_in_order_are_written():
    assert resync.plan_live(position=2, frames=frames(3, 4)).steps == [Write(frames(3, 4))]


def test_seqs_the_client_has_are_duplicates():
    plan = resync.plan_live(position=4, frames=frames(3, 4, 5))

    assert (plan.steps, plan.duplicates) == ([Write(frames(5))], 2)


def test_a_gap_is_healed_before_the_next_seq_is_written():
    plan = resync.plan_live(position=2, frames=frames(3, 6, 7, 9))

    assert plan.steps == [Write(frames(3)), Heal(5), Write(frames(6, 7)), Heal(8), Write(frames(9))]


def test_a_short_heal_means_the_rest_was_pruned():
    assert resync.healed_short(after=2, last=6, sent=4) is None
    assert resync.healed_short(after=2, last=6, sent=1) == Resync(2, 6, resync.RETENTION)


@given(position=st.integers(0, 50), seqs=st.lists(st.integers(1, 80), max_size=30))
def test_the_client_sees_each_seq_once_in_order(position, seqs):
    """Whatever arrives, the writes and heals cover position+1.. without repeats or gaps."""
    plan = resync.plan_live(position=position, frames=frames(*seqs))
    seen = position
    for step in plan.steps:
        if isinstance(step, Heal):
            assert step.last > seen
            seen = step.last
        else:
            for frame in step.frames:
                assert frame["seq"] == seen + 1
                seen = frame["seq"]
    assert plan.duplicates == sum(1 for _ in seqs) - sum(
        len(s.frames) for s in plan.steps if isinstance(s, Write)
    )
