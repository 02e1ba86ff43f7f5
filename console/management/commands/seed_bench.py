"""Fill the ledger with a benchmark load: users, threads and events, generated in SQL.

Defaults: 100,000 threads of 10 events (1M events) over 20,000 users; about 1% of threads end
with undelivered events and 2% are still waiting for their client (sends, acks and undelivered
ranges as the live path records them). Not for production databases.
"""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from delivery.ledger import partitions

USERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT '!', false, 'bench' || g, '', '', 'bench' || g || '@example.test', false, true, now()
  FROM generate_series(1, %(users)s) g
ON CONFLICT (username) DO NOTHING
"""
# Each thread's fate: 1% lost (its last two events undelivered), 2% waiting for their client
# (the last two sent, not acked), the rest acked. last_seq and acked_seq follow from it.
THREADS_SQL = """
INSERT INTO delivery_thread (id, owner_id, title, last_seq, acked_seq, created_at,
                             last_event_at)
SELECT gen_random_uuid(), u.id, 'bench thread ' || g, %(events)s,
       CASE WHEN f.fate = 'ok' THEN %(events)s ELSE %(events)s - 2 END,
       now() - make_interval(secs => g * 30), now() - make_interval(secs => g * 30 - %(events)s)
  FROM generate_series(1, %(threads)s) g
  JOIN (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM auth_user
         WHERE username LIKE 'bench%%') u ON u.rn = (g %% %(users)s) + 1
 CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.01 THEN 'lost'
                                 WHEN random() < 0.02 THEN 'waiting' ELSE 'ok' END AS fate
                      WHERE g IS NOT NULL) f
"""
BENCH_THREADS = "FROM delivery_thread t WHERE t.title LIKE 'bench thread %%'"
EVENTS_SQL = f"""
INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at)
SELECT t.id, s, gen_random_uuid(), 'agent_step', '{{"text": "benchmark event"}}', true,
       t.created_at + make_interval(secs => s)
  {BENCH_THREADS.replace("WHERE", "CROSS JOIN generate_series(1, %(events)s) s WHERE")}
"""
# One live send per thread covering all its events, and one ack range per acked prefix.
ATTEMPTS_SQL = f"""
INSERT INTO delivery_deliveryattempt (thread_id, trigger, first_seq, last_seq, created_at)
SELECT t.id, 'live', 1, t.last_seq, t.created_at + interval '1 second' {BENCH_THREADS}
"""
ACKS_SQL = f"""
INSERT INTO delivery_ackrange (thread_id, above, upto, acked_at)
SELECT t.id, 0, t.acked_seq, t.created_at + interval '1.05 second' {BENCH_THREADS}
"""
LOST_SQL = f"""
INSERT INTO delivery_undeliveredrange (thread_id, first_seq, last_seq, cause, created_at,
                                       reopened_by)
SELECT t.id, t.acked_seq + 1, t.last_seq, 'no ack after 5 sends',
       t.created_at + interval '2 minutes', ''
  {BENCH_THREADS} AND t.acked_seq < t.last_seq AND random() < 0.33
"""


class Command(BaseCommand):
    help = "Generate a benchmark ledger (default 100k threads, 1M events) in SQL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=100_000)
        parser.add_argument("--events-per-thread", type=int, default=10)
        parser.add_argument("--users", type=int, default=20_000)

    def handle(
        self, *args: object, threads: int, events_per_thread: int, users: int, **options: object
    ) -> None:
        params = {"threads": threads, "events": events_per_thread, "users": users}
        oldest = timezone.now() - timedelta(seconds=30 * threads)
        partitions.ensure_partitions(since=oldest.date())
        steps = (
            ("users", USERS_SQL),
            ("threads", THREADS_SQL),
            ("events", EVENTS_SQL),
            ("sends", ATTEMPTS_SQL),
            ("acks", ACKS_SQL),
            ("undelivered ranges", LOST_SQL),
        )
        for label, sql in steps:
            started = time.monotonic()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                count = cursor.rowcount
            self.stdout.write(f"{label}: {count} rows in {time.monotonic() - started:.1f}s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS("analyzed; the benchmark ledger is ready"))
