"""`manage.py prune_ledger`, the `prune_ledger` task and its beat entry."""

from io import StringIO

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from config.celery_app import app
from delivery import tasks
from delivery.models import Event
from tests.delivery.retention_ledger import ledger, seqs

pytestmark = pytest.mark.django_db


@pytest.fixture
def retention_days(settings):
    def apply(days: int) -> None:
        settings.LEDGERLINE = {**settings.LEDGERLINE, "RETENTION_DAYS": days}

    return apply


def prune_ledger(*args: str) -> str:
    out = StringIO()
    call_command("prune_ledger", *args, stdout=out)
    return out.getvalue()


def test_days_default_to_the_retention_setting(thread, retention_days):
    retention_days(10)
    ledger(thread, "aa", days_old=12)
    ledger(thread, "aa", days_old=9)
    prune_ledger()
    assert seqs(thread) == [3, 4]


def test_days_flag_overrides_the_setting(thread, retention_days):
    retention_days(10)
    ledger(thread, "aa", days_old=12)
    prune_ledger("--days", "14")
    assert seqs(thread) == [1, 2]


def test_output_says_what_was_dropped(thread):
    ledger(thread, "aasc")
    out = prune_ledger("--days", "30", "--batch-size", "1")
    assert "dropped 10 day(s) of partitions" in out  # the ledger's day and the empty ones after
    assert "4 event(s), 3 delivery attempt(s) and 1 ack range(s)" in out
    assert "2 of those events were never acknowledged" in out


def test_dry_run_prints_counts_and_drops_nothing(thread):
    ledger(thread, "aaa")
    out = prune_ledger("--days", "30", "--dry-run")
    assert out.startswith("Dry run: nothing dropped.")
    assert "would drop 10 day(s) of partitions" in out and " 3 event(s)" in out
    assert seqs(thread) == [1, 2, 3]


@pytest.mark.parametrize("days", ["0", "-3"])
def test_days_below_one_are_refused(thread, days):
    ledger(thread, "a")
    with pytest.raises(CommandError, match="--days must be a positive number"):
        prune_ledger("--days", days)
    assert seqs(thread) == [1]


def test_a_batch_size_of_zero_is_refused():
    with pytest.raises(CommandError, match="--batch-size must be a positive number"):
        prune_ledger("--batch-size", "0")


def test_retention_off_refuses_to_prune_without_days(thread, retention_days):
    retention_days(0)
    ledger(thread, "a", days_old=400)
    with pytest.raises(CommandError, match="retention is off"):
        prune_ledger()
    assert seqs(thread) == [1]


def test_retention_off_still_prunes_once_with_explicit_days(thread, retention_days):
    retention_days(0)
    ledger(thread, "a", days_old=400)
    prune_ledger("--days", "365")
    assert seqs(thread) == []


def test_task_prunes_with_the_configured_retention(thread, retention_days):
    retention_days(10)
    ledger(thread, "aa", days_old=12)
    ledger(thread, "a", days_old=9)
    tasks.prune_ledger()
    assert seqs(thread) == [3]


def test_task_does_nothing_when_retention_is_off(thread, retention_days):
    retention_days(0)
    ledger(thread, "aaa", days_old=400)
    tasks.prune_ledger()
    assert Event.objects.filter(thread=thread).count() == 3


def test_beat_runs_the_prune_task_daily():
    entry = django_settings.CELERY_BEAT_SCHEDULE["prune-ledger"]
    assert entry["task"] == tasks.prune_ledger.name == "delivery.tasks.prune_ledger"
    assert entry["task"] in app.tasks
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}
    # An unclaimed run expires before the next day's, so runs never pile up.
    assert 0 < entry["options"]["expires"] < 24 * 3600
