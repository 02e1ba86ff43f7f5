"""Fair runs: a user's runs beyond RUNS_PER_USER wait; other users are not held up."""

import pytest

from agent.scheduling import run_slot


@pytest.fixture
def two_runs(settings):
    settings.LEDGERLINE_AGENT = {**settings.LEDGERLINE_AGENT, "RUNS_PER_USER": 2}


def test_a_users_runs_past_the_limit_wait(two_runs):
    with run_slot(1) as first, run_slot(1) as second, run_slot(1) as third:
        assert (first, second, third) == (True, True, False)


def test_a_slot_is_given_back_when_the_run_ends(two_runs):
    with run_slot(7) as first, run_slot(7) as second:
        assert first and second
    with run_slot(7) as again:
        assert again


def test_another_user_is_not_held_up(two_runs):
    with run_slot(3), run_slot(3), run_slot(4) as other:
        assert other


def test_a_slot_is_given_back_when_the_run_fails(two_runs):
    with pytest.raises(RuntimeError), run_slot(9), run_slot(9):
        raise RuntimeError("the run crashed")
    with run_slot(9) as again:
        assert again
