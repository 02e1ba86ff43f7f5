"""Fill the ledger with a benchmark load: users, threads and events, generated in SQL.

Defaults: 100,000 threads of 10 events (1M events) over 20,000 users; about 1% of threads end
with undelivered events and 2% are still waiting for their client. Not for production databases.
"""

import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

USERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT '!', false, 'bench' || g, '', '', 'bench' || g || '@example.test', false, true, now()
  FROM generate_series(1, %(users)s) g
ON CONFLICT (username) DO NOTHING
"""
THREADS_SQL = """
INSERT INTO delivery_thread (id, owner_id, title, last_seq, created_at)
SELECT gen_random_uuid(), u.id, 'bench thread ' || g, %(events)s,
       now() - make_interval(secs => g * 30)
  FROM generate_series(1, %(threads)s) g
  JOIN (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM auth_user
         WHERE username LIKE 'bench%%') u ON u.rn = (g %% %(users)s) + 1
"""
EVENTS_SQL = """
INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at,
                            first_sent_at, last_sent_at, attempts, acked_at, state,
                            undelivered_cause)
SELECT t.id, s, gen_random_uuid(), 'agent_step', '{"text": "benchmark event"}', true,
       t.created_at + make_interval(secs => s), t.created_at + make_interval(secs => s),
       t.created_at + make_interval(secs => s), 1,
       CASE WHEN k.fate = 'ok' OR s < %(events)s - 1
            THEN t.created_at + make_interval(secs => s + 0.05) END,
       CASE WHEN k.fate = 'ok' OR s < %(events)s - 1 THEN 'acked'
            WHEN k.fate = 'lost' THEN 'undelivered' ELSE 'sent' END,
       CASE WHEN k.fate = 'lost' AND s >= %(events)s - 1 THEN 'no ack after 5 sends' ELSE '' END
  FROM delivery_thread t
  CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.01 THEN 'lost'
                                  WHEN random() < 0.02 THEN 'waiting' ELSE 'ok' END AS fate
                     WHERE t.id IS NOT NULL) k
  CROSS JOIN generate_series(1, %(events)s) s
 WHERE t.title LIKE 'bench thread %%'
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
        for label, sql in (("users", USERS_SQL), ("threads", THREADS_SQL), ("events", EVENTS_SQL)):
            started = time.monotonic()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                count = cursor.rowcount
            self.stdout.write(f"{label}: {count} rows in {time.monotonic() - started:.1f}s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS("analyzed; the benchmark ledger is ready"))
