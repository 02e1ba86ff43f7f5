"""Build a ledger of a given shape and age for retention tests: one letter per event.

Events are append-only, so an old ledger is written old: straight into the partitions of the
day `days_old` days ago, with its sends and acks dated the same day.
"""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from delivery.ledger import partitions
from delivery.models import Event, Thread, UndeliveredRange
from tests.ledger import ack, sent

OLD = 40  # days: past the 30-day cutoff the tests prune at
CUTOFF_DAYS = 30

INSERT_SQL = """
    WITH allocated AS (
        UPDATE delivery_thread
           SET last_seq = last_seq + %(count)s, created_at = LEAST(created_at, %(at)s),
               last_event_at = %(at)s + make_interval(secs => last_seq + %(count)s)
         WHERE id = %(thread)s
        RETURNING last_seq - %(count)s AS base
    )
    INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at)
    SELECT %(thread)s, base + g, gen_random_uuid(), 'agent_step',
           jsonb_build_object('i', g - 1), true, %(at)s + make_interval(secs => base + g)
      FROM allocated, generate_series(1, %(count)s) g
"""


def ledger(thread: Thread, shape: str, days_old: int = OLD) -> None:
    """Write one event per letter of `shape` dated `days_old` days ago (a acked, u sent and
    given up on, s sent, c committed only). Acks are cumulative, so `a`s come first. The
    thread is backdated too: no event is older than its thread."""
    at = ago(days_old)
    partitions.ensure_partitions(since=at.date())
    first = Thread.objects.get(pk=thread.pk).last_seq + 1
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, {"count": len(shape), "thread": thread.pk, "at": at})
    acked = 0
    for seq, letter in enumerate(shape, first):
        sent_at = at + timedelta(seconds=seq, milliseconds=10)
        if letter in "asu":
            sent(thread, seq, seq, at=sent_at)
        if letter == "a":
            acked = seq
        if letter == "u":
            UndeliveredRange.objects.create(
                thread=thread, first_seq=seq, last_seq=seq, cause="no ack", created_at=sent_at
            )
    if acked:
        ack(thread, acked, at=at + timedelta(seconds=acked, milliseconds=20))


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def cutoff():
    return ago(CUTOFF_DAYS)


def seqs(thread) -> list[int]:
    return list(Event.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True))
