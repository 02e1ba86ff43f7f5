"""Ledger retention: whole days are dropped as partitions; what must survive does."""

import logging
import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from console.services import reveal_payload
from delivery import emit, emit_many
from delivery.ledger import audit, partitions
from delivery.ledger.retention import prune_ledger
from delivery.models import (
    AckRange,
    AuditedEvent,
    Connection,
    ConnectionState,
    DeliveryAttempt,
    Event,
    Thread,
)
from delivery.repair import replay
from tests.delivery.retention_ledger import ago, cutoff, ledger, seqs
from tests.factories import ThreadFactory
from tests.monitoring.sampling import sample

pytestmark = pytest.mark.django_db


def prune(**options):
    return prune_ledger(older_than=cutoff(), **options)


def test_a_day_older_than_the_cutoff_is_dropped_whole(thread):
    ledger(thread, "aaaa")
    ledger(thread, "aa", days_old=1)
    old_day = ago(40).date()
    report = prune()
    assert seqs(thread) == [5, 6]
    assert (report.events, report.attempts, report.ack_ranges) == (4, 4, 1)
    names = {p.name for table in partitions.PARTITIONED for p in partitions.partitions(table)}
    assert not any(name.endswith(f"_p{old_day:%Y%m%d}") for name in names)
    assert {partitions.partition_name(table, old_day) for table in partitions.PARTITIONED} <= set(
        report.partitions
    )


def test_retention_removes_a_prefix_of_every_thread(user):
    threads = [ThreadFactory(owner=user) for _ in range(3)]
    for thread in threads:
        ledger(thread, "aa")
        ledger(thread, "ac", days_old=2)
    prune()
    for thread in threads:
        assert seqs(thread) == [3, 4]
        assert Thread.objects.get(pk=thread.pk).last_seq == 4  # allocation goes on from 4


def test_unacknowledged_events_of_a_dropped_day_are_counted_and_logged(thread, caplog):
    ledger(thread, "aascu")
    with caplog.at_level(logging.WARNING, logger="delivery.ledger.retention"):
        report = prune()
    assert report.dropped_unacked == 3
    assert any("never acknowledged" in r.getMessage() for r in caplog.records)


def test_audited_events_survive_retention(thread, user):
    ledger(thread, "aaa")
    revealed = Event.objects.get(thread=thread, seq=2)
    reveal_payload(event_id=revealed.event_id, actor=user, reason="ticket 12")
    plan = replay.plan_range(thread_id=thread.pk, first=3, last=3)
    replay.request_replay(plan=plan, actor=user, reason="ticket 4")
    prune()
    assert seqs(thread) == []
    kept = AuditedEvent.objects.filter(thread=thread).order_by("seq").values_list("seq", "payload")
    assert list(kept) == [(2, {"i": 1}), (3, {"i": 2})]
    found = audit.find_event(revealed.event_id)
    assert found is not None and found.payload == {"i": 1}


def test_a_replay_after_retention_sends_the_audited_copy(thread, user):
    ledger(thread, "au")
    plan = replay.plan_range(thread_id=thread.pk, first=2, last=2)
    job = replay.request_replay(plan=plan, actor=user, reason="ticket 5")
    prune()
    job = replay.run_replay(replay_id=job.pk)
    assert (job.state, job.sent, job.failed) == ("done", 1, 0)


def test_a_dry_run_counts_and_drops_nothing(thread):
    ledger(thread, "aaa")
    report = prune(dry_run=True)
    assert (report.dry_run, report.events) == (True, 3)
    assert seqs(thread) == [1, 2, 3]


def test_today_is_never_dropped_and_a_second_prune_finds_nothing(thread):
    ledger(thread, "aa")
    emit(thread, "agent_step", {})
    assert prune().events == 2
    again = prune()
    assert (again.events, again.partitions) == (0, [])
    assert seqs(thread) == [3]


def test_pruned_events_are_counted(thread):
    before = sample("ledger_pruned_events_total")
    ledger(thread, "aaa")
    prune()
    assert sample("ledger_pruned_events_total") == before + 3


def test_old_closed_connections_go_and_live_ones_stay(thread):
    old = Connection.objects.create(thread=thread, user=thread.owner, state=ConnectionState.CLOSED)
    Connection.objects.filter(pk=old.pk).update(opened_at=ago(41), closed_at=ago(40))
    live = Connection.objects.create(thread=thread, user=thread.owner)
    Connection.objects.filter(pk=live.pk).update(opened_at=ago(41))
    report = prune()
    assert report.connections == 1
    assert list(Connection.objects.values_list("pk", flat=True)) == [live.pk]


def test_future_cutoff_is_refused():
    with pytest.raises(ValueError, match="future"):
        prune_ledger(older_than=ago(-1))


def test_thread_and_seq_are_unique_within_a_partition(thread):
    [event] = emit_many(thread, [("a", {})])
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(
            thread=thread, seq=event.seq, type="b", payload={}, created_at=event.created_at
        )


def test_a_threads_last_seq_never_falls(thread):
    emit_many(thread, [("a", {}), ("b", {})])
    with pytest.raises(DatabaseError, match="may not fall"), transaction.atomic():
        Thread.objects.filter(pk=thread.pk).update(last_seq=1)


@pytest.mark.django_db(transaction=True)
def test_created_at_rises_with_seq_under_concurrent_emitters(thread):
    """Why a dropped day is a prefix of each thread: the clock is read under the row lock."""

    def emitter():
        try:
            for i in range(30):
                emit(thread, "step", {"i": i})
        finally:
            connection.close()

    workers = [threading.Thread(target=emitter) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rows = list(Event.objects.filter(thread=thread).order_by("seq").values_list("created_at"))
    assert len(rows) == 120 and rows == sorted(rows)


def test_partitions_are_made_ahead_and_only_once(settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "PARTITION_DAYS_AHEAD": 9}
    created = partitions.ensure_partitions()
    assert partitions.days_ready() == 9
    assert len(created) == 2 * len(partitions.PARTITIONED)  # days 8 and 9 were missing
    assert partitions.ensure_partitions() == []


def test_attempts_and_ack_ranges_of_a_dropped_day_go_with_its_events(thread):
    ledger(thread, "aa")
    prune()
    assert not DeliveryAttempt.objects.filter(thread=thread).exists()
    assert not AckRange.objects.filter(thread=thread).exists()
