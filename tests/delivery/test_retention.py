"""Ledger retention: what `prune_ledger` deletes, what it must keep, and how it reports it."""

import logging

import pytest

from console.models import ContentReveal
from delivery import emit, replay, retention
from delivery.models import (
    Connection,
    ConnectionState,
    DeliveryAttempt,
    Event,
    ReplayItem,
    Thread,
    Trigger,
)
from delivery.retention import prune_ledger
from tests.delivery.retention_ledger import age, ago, cutoff, ledger, seqs
from tests.factories import ThreadFactory
from tests.monitoring.sampling import sample

pytestmark = pytest.mark.django_db


def prune(**options) -> retention.PruneReport:
    return prune_ledger(older_than=cutoff(), **options)


def attempt(thread, days_old: float, connection=None) -> DeliveryAttempt:
    row = DeliveryAttempt.objects.create(
        thread=thread, connection=connection, trigger=Trigger.RESUME, from_seq=1, to_seq=1,
        event_count=1,
    )  # fmt: skip
    DeliveryAttempt.objects.filter(pk=row.pk).update(created_at=ago(days_old))
    return row


def closed_connection(thread, days_closed: float, state=ConnectionState.CLOSED) -> Connection:
    row = Connection.objects.create(thread=thread, user=thread.owner, state=state)
    Connection.objects.filter(pk=row.pk).update(
        opened_at=ago(days_closed + 1), closed_at=ago(days_closed)
    )
    return row


def test_old_settled_events_are_deleted(thread):
    ledger(thread, "aauau")
    report = prune()
    assert seqs(thread) == []
    assert (report.events, report.threads, report.kept_unresolved) == (5, 1, 0)


def test_old_pending_and_sent_events_are_kept_and_reported_unresolved(thread):
    ledger(thread, "aaps")
    report = prune()
    assert seqs(thread) == [3, 4]
    assert (report.events, report.kept_unresolved, report.kept_pinned) == (2, 2, 0)


def test_settled_events_after_an_unresolved_one_are_kept(thread):
    ledger(thread, "asaua")
    report = prune()
    assert seqs(thread) == [2, 3, 4, 5]
    assert (report.events, report.kept_unresolved, report.kept_pinned) == (1, 1, 3)


def test_young_events_are_kept(thread):
    ledger(thread, "aaaa")
    age(thread, [3, 4], days_old=29)
    prune()
    assert seqs(thread) == [3, 4]


def test_a_young_event_keeps_the_old_events_after_it(thread):
    ledger(thread, "aaaa")
    age(thread, [2], days_old=1)  # clock skew between emitting hosts
    prune()
    assert seqs(thread) == [2, 3, 4]


def test_other_threads_are_untouched(thread):
    young, owed = ThreadFactory(), ThreadFactory()
    ledger(thread, "aaa")
    ledger(young, "aaa", days_old=2)
    ledger(owed, "paa")
    report = prune()
    assert (seqs(thread), seqs(young), seqs(owed)) == ([], [1, 2, 3], [1, 2, 3])
    assert report.threads == 1


def test_dry_run_deletes_nothing_but_reports_counts(thread):
    ledger(thread, "aapa")
    attempt(thread, days_old=31)
    closed_connection(thread, days_closed=31)
    pruned = sample("ledger_pruned_events_total")
    report = prune(dry_run=True)
    assert report.dry_run
    assert (report.events, report.kept_unresolved, report.kept_pinned) == (2, 1, 1)
    assert (report.attempts, report.connections) == (1, 1)
    assert seqs(thread) == [1, 2, 3, 4]
    assert DeliveryAttempt.objects.count() == Connection.objects.count() == 1
    assert sample("ledger_pruned_events_total") == pruned


def test_dry_run_with_nothing_to_prune_reports_zero(thread):
    ledger(thread, "aa", days_old=1)
    report = prune(dry_run=True)
    assert (report.events, report.threads, report.attempts, report.connections) == (0, 0, 0, 0)


def test_batches_of_two_delete_all_seven_events(thread):
    ledger(thread, "aaaaaaa")
    assert prune(batch_size=2).events == 7
    assert seqs(thread) == []


def test_batches_stop_at_the_first_unresolved_event(thread):
    other = ThreadFactory()
    ledger(thread, "aaaaapaa")
    ledger(other, "aaa")
    assert prune(batch_size=2).events == 8
    assert (seqs(thread), seqs(other)) == ([6, 7, 8], [])


def test_prune_is_idempotent(thread):
    ledger(thread, "aapa")
    prune()
    assert prune().events == 0
    assert seqs(thread) == [3, 4]


def test_thread_keeps_its_last_seq_so_new_events_continue_after_it(thread):
    ledger(thread, "aaa")
    prune()
    assert Thread.objects.get(pk=thread.pk).last_seq == 3
    assert emit(thread, "agent_step", {}).seq == 4


def test_old_attempts_are_deleted_and_young_ones_kept(thread):
    old, young = attempt(thread, days_old=31), attempt(thread, days_old=29)
    assert prune().attempts == 1
    assert list(DeliveryAttempt.objects.values_list("pk", flat=True)) == [young.pk]
    assert not DeliveryAttempt.objects.filter(pk=old.pk).exists()


def test_old_closed_and_dead_connections_are_deleted(thread):
    closed_connection(thread, days_closed=31)
    closed_connection(thread, days_closed=31, state=ConnectionState.DEAD)
    young = closed_connection(thread, days_closed=29)
    live = Connection.objects.create(thread=thread, user=thread.owner)
    Connection.objects.filter(pk=live.pk).update(opened_at=ago(60))
    assert prune().connections == 2
    assert set(Connection.objects.values_list("pk", flat=True)) == {young.pk, live.pk}


def test_a_pruned_connection_is_unlinked_from_its_younger_attempts(thread):
    gone = closed_connection(thread, days_closed=31)
    kept = attempt(thread, days_old=29, connection=gone)
    prune()
    kept.refresh_from_db()
    assert kept.connection_id is None
    assert not Connection.objects.filter(pk=gone.pk).exists()


def test_a_replayed_event_keeps_its_audit_rows_and_everything_after_it(thread, user):
    ledger(thread, "aauaa")
    plan = replay.plan_range(thread_id=thread.pk, first=3, last=3)
    replay.request_replay(plan=plan, actor=user, reason="customer asked")
    prune()
    assert seqs(thread) == [3, 4, 5]
    assert ReplayItem.objects.filter(event__thread=thread, seq=3).exists()


def test_a_revealed_event_keeps_its_audit_row_and_everything_after_it(thread, user):
    ledger(thread, "aaaa")
    event = Event.objects.get(thread=thread, seq=2)
    ContentReveal.objects.create(actor=user, actor_name="lead", event=event, thread_id=thread.pk)
    report = prune()
    assert seqs(thread) == [2, 3, 4]
    assert (report.events, report.kept_pinned) == (1, 3)
    assert ContentReveal.objects.filter(event=event).exists()


def test_a_stale_plan_cannot_delete_an_audited_event(thread, user, monkeypatch):
    """An audit row written after the floors were read fails the batch; it is re-planned."""
    ledger(thread, "aaaa")
    event = Event.objects.get(thread=thread, seq=2)
    ContentReveal.objects.create(actor=user, actor_name="lead", event=event, thread_id=thread.pk)
    real_plan, calls = retention._plan, []

    def plan_read_before_the_reveal(threads, cutoff):
        calls.append(threads)
        return {thread.pk: (1, 5)} if len(calls) == 1 else real_plan(threads, cutoff)

    monkeypatch.setattr(retention, "_plan", plan_read_before_the_reveal)
    assert prune().events == 1
    assert len(calls) == 2  # the stale plan failed its batch and was read again
    assert seqs(thread) == [2, 3, 4]
    assert ContentReveal.objects.filter(event=event).exists()


def test_prune_counts_deleted_events_and_logs_its_report(thread, caplog):
    ledger(thread, "aaa")
    pruned = sample("ledger_pruned_events_total")
    with caplog.at_level(logging.INFO, logger="delivery.retention"):
        prune()
    assert sample("ledger_pruned_events_total") == pruned + 3
    [record] = [r for r in caplog.records if r.name == "delivery.retention"]
    assert "'events': 3" in record.getMessage()


def test_a_cutoff_in_the_future_is_refused(thread):
    ledger(thread, "a", days_old=0)
    with pytest.raises(ValueError, match="future"):
        prune_ledger(older_than=ago(-1))
    assert seqs(thread) == [1]


def test_a_batch_size_of_zero_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        prune(batch_size=0)
