"""The append-only ledger: per-event state becomes watermarks and ranges; time partitions.

Before: every event row carried `state`, `first_sent_at`, `last_sent_at`, `attempts`,
`acked_at` and `undelivered_cause`, updated on every send and ack. After:

- `delivery_event` is partitioned by day on `created_at` and holds only what was emitted;
- `delivery_thread.acked_seq` is the contiguous acked prefix of each thread, and
  `last_event_at` the time of its newest event (with `created_at`, it bounds the partitions a
  thread's events can be in);
- `delivery_connection.sent_seq` is each connection's sent watermark;
- `delivery_deliveryattempt` holds one row per send of a seq range, with its
  outcome; the legacy per-event first sends become ranges of events first sent together;
- `delivery_ackrange` holds the ack watermark's moves: runs of events acked at
  the same moment;
- `delivery_undeliveredrange` holds runs of undelivered events with their cause;
- replay items refer to events by `event_id`, and the events they name are copied to
  `delivery_auditedevent`.

The old tables are renamed `*_legacy` here, read, and dropped by 0006 once console has moved
its reveals off them. Data moves in SQL, a statement per step, so a large ledger migrates in
one pass of each table.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import django.db.models.deletion
import django.utils.timezone
from django.apps import apps as registry
from django.conf import settings
from django.db import migrations, models

PARTITIONED = {"delivery_event": "created_at"}
DAYS_AHEAD = 7

RENAME_LEGACY = """
ALTER TABLE delivery_event RENAME TO delivery_event_legacy;
ALTER TABLE delivery_deliveryattempt RENAME TO delivery_deliveryattempt_legacy;
"""

CREATE_TABLES = """
CREATE TABLE delivery_event (
    thread_id uuid NOT NULL,
    seq bigint NOT NULL CONSTRAINT event_seq_positive CHECK (seq >= 1),
    event_id uuid NOT NULL,
    type varchar(64) NOT NULL,
    payload jsonb NOT NULL,
    critical boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT event_thread_seq_pk PRIMARY KEY (thread_id, seq, created_at)
) PARTITION BY RANGE (created_at);
CREATE UNIQUE INDEX event_id_uniq ON delivery_event (event_id, created_at);
CREATE INDEX event_created_brin ON delivery_event USING brin (created_at);

CREATE SEQUENCE delivery_attempt_id_seq AS bigint;
CREATE TABLE delivery_deliveryattempt (
    id bigint NOT NULL DEFAULT nextval('delivery_attempt_id_seq'),
    thread_id uuid NOT NULL,
    connection_id uuid NULL,
    trigger varchar(8) NOT NULL,
    first_seq bigint NOT NULL,
    last_seq bigint NOT NULL,
    outcome varchar(12) NOT NULL DEFAULT 'sent',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail varchar(200) NOT NULL DEFAULT '',
    -- The key leads with what every read asks (a thread's sends from a seq on), so one index
    -- serves both; `id` makes it unique. Not partitioned: a thread's sends are read by seq,
    -- and one index probe beats one per day; retention deletes old rows in batches.
    CONSTRAINT attempt_pk PRIMARY KEY (thread_id, last_seq, id),
    CONSTRAINT attempt_range_ordered CHECK (first_seq >= 1 AND last_seq >= first_seq)
);
ALTER SEQUENCE delivery_attempt_id_seq OWNED BY delivery_deliveryattempt.id;
CREATE INDEX attempt_created_brin ON delivery_deliveryattempt USING brin (created_at);
-- Repairs are rare: thread health and the overview find them without reading every send.
CREATE INDEX attempt_repair_idx ON delivery_deliveryattempt (thread_id, created_at)
    WHERE trigger IN ('heal', 'retry', 'replay');

CREATE SEQUENCE delivery_ackrange_id_seq AS bigint;
CREATE TABLE delivery_ackrange (
    id bigint NOT NULL DEFAULT nextval('delivery_ackrange_id_seq'),
    thread_id uuid NOT NULL,
    connection_id uuid NULL,
    above bigint NOT NULL,
    upto bigint NOT NULL,
    acked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT ackrange_pk PRIMARY KEY (thread_id, upto, id),
    CONSTRAINT ackrange_ordered CHECK (above >= 0 AND upto > above)
);
ALTER SEQUENCE delivery_ackrange_id_seq OWNED BY delivery_ackrange.id;
CREATE INDEX ackrange_time_brin ON delivery_ackrange USING brin (acked_at);

-- Append-only, enforced: an event row is written once. (A DELETE stays possible: a user's
-- erasure deletes their threads; retention drops whole partitions.)
CREATE FUNCTION delivery_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'delivery_event is append-only: %#% may not be updated', OLD.thread_id,
        OLD.seq USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER event_append_only BEFORE UPDATE ON delivery_event
    FOR EACH ROW EXECUTE FUNCTION delivery_event_append_only();

-- Seqs are allocated only by raising last_seq (the emit statement); it never falls, so a seq
-- is never handed out twice, whichever partition its event lands in.
CREATE FUNCTION delivery_thread_seq_never_falls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'thread %: last_seq may not fall from % to %', OLD.id, OLD.last_seq,
        NEW.last_seq USING ERRCODE = 'check_violation';
END $$;
-- AFTER, not BEFORE: a BEFORE ROW trigger locks the row first, one more WAL record per emit.
CREATE TRIGGER thread_seq_never_falls AFTER UPDATE OF last_seq ON delivery_thread
    FOR EACH ROW WHEN (NEW.last_seq < OLD.last_seq)
    EXECUTE FUNCTION delivery_thread_seq_never_falls();
-- Room on each page for the emit's and the ack's updates to stay HOT.
ALTER TABLE delivery_thread SET (fillfactor = 70);
"""

MOVE_DATA = """
-- Foreign keys are checked as rows move, not at commit: the ALTERs that follow in this
-- migration refuse to run on a table with checks still pending.
SET CONSTRAINTS ALL IMMEDIATE;
INSERT INTO delivery_event (thread_id, seq, event_id, type, payload, critical, created_at)
SELECT thread_id, seq, event_id, type, payload, critical, created_at
  FROM delivery_event_legacy;

-- The acked watermark: everything below the first event that is not acked (a pruned prefix
-- was settled, so it counts as acked).
UPDATE delivery_thread t SET acked_seq = COALESCE(
    (SELECT min(e.seq) - 1 FROM delivery_event_legacy e
      WHERE e.thread_id = t.id AND e.state <> 'acked'),
    t.last_seq);
UPDATE delivery_thread t SET last_event_at = e.newest
  FROM (SELECT thread_id, max(created_at) AS newest FROM delivery_event_legacy
         GROUP BY thread_id) e
 WHERE e.thread_id = t.id;

-- Ack ranges: runs of consecutive events of the acked prefix acked at the same moment.
INSERT INTO delivery_ackrange (thread_id, connection_id, above, upto, acked_at)
SELECT thread_id, NULL, min(seq) - 1, max(seq), acked_at FROM (
    SELECT e.thread_id, e.seq, e.acked_at,
           e.seq - row_number() OVER (PARTITION BY e.thread_id, e.acked_at ORDER BY e.seq) AS run
      FROM delivery_event_legacy e JOIN delivery_thread t ON t.id = e.thread_id
     WHERE e.state = 'acked' AND e.acked_at IS NOT NULL AND e.seq <= t.acked_seq) acked
 GROUP BY thread_id, acked_at, run;

-- Sends: the batches the legacy table recorded (resume, heal, retry, replay) ...
INSERT INTO delivery_deliveryattempt
       (thread_id, connection_id, trigger, first_seq, last_seq, outcome, created_at, detail)
SELECT thread_id, connection_id, trigger, from_seq, to_seq, 'sent', created_at, detail
  FROM delivery_deliveryattempt_legacy WHERE to_seq >= from_seq AND from_seq >= 1;
-- ... and the first sends it kept only per event: runs of events first sent at one moment.
INSERT INTO delivery_deliveryattempt
       (thread_id, connection_id, trigger, first_seq, last_seq, outcome, created_at, detail)
SELECT thread_id, NULL, 'live', min(seq), max(seq), 'sent', first_sent_at, 'first send (migrated)'
  FROM (SELECT thread_id, seq, first_sent_at,
               seq - row_number() OVER (PARTITION BY thread_id, first_sent_at ORDER BY seq) AS run
          FROM delivery_event_legacy WHERE first_sent_at IS NOT NULL) sent
 GROUP BY thread_id, first_sent_at, run;

-- Undelivered: runs of consecutive undelivered events with one cause.
INSERT INTO delivery_undeliveredrange (thread_id, first_seq, last_seq, cause, created_at,
                                       reopened_at, reopened_by)
SELECT thread_id, min(seq), max(seq), cause, max(at), NULL, '' FROM (
    SELECT thread_id, seq, COALESCE(NULLIF(undelivered_cause, ''), 'no ack') AS cause,
           COALESCE(last_sent_at, created_at) AS at,
           seq - row_number() OVER (PARTITION BY thread_id, undelivered_cause ORDER BY seq) AS run
      FROM delivery_event_legacy WHERE state = 'undelivered') lost
 GROUP BY thread_id, cause, run;

-- Sent watermarks: what each connection acked; the newest connection of a thread also holds
-- the highest seq the legacy ledger had sent, so a client may ack what it was sent before.
UPDATE delivery_connection SET sent_seq = acked_seq;
UPDATE delivery_connection c SET sent_seq = GREATEST(c.sent_seq, s.seq)
  FROM (SELECT DISTINCT ON (thread_id) thread_id, id FROM delivery_connection
         ORDER BY thread_id, opened_at DESC) newest,
       (SELECT thread_id, max(seq) AS seq FROM delivery_event_legacy
         WHERE first_sent_at IS NOT NULL OR state = 'acked' GROUP BY thread_id) s
 WHERE c.id = newest.id AND s.thread_id = newest.thread_id;

-- Replay items name their event by its uuid; the audited events are copied.
INSERT INTO delivery_auditedevent (event_id, thread_id, seq, type, payload, critical, created_at,
                                   preserved_at)
SELECT DISTINCT ON (e.event_id) e.event_id, e.thread_id, e.seq, e.type, e.payload, e.critical,
       e.created_at, now()
  FROM delivery_event_legacy e JOIN delivery_replayitem r ON r.event_id = e.id
ON CONFLICT (event_id) DO NOTHING;
ALTER TABLE delivery_replayitem ADD COLUMN event_uuid uuid;
UPDATE delivery_replayitem r SET event_uuid = e.event_id
  FROM delivery_event_legacy e WHERE e.id = r.event_id;
ALTER TABLE delivery_replayitem DROP COLUMN event_id;
ALTER TABLE delivery_replayitem RENAME COLUMN event_uuid TO event_id;
ALTER TABLE delivery_replayitem ALTER COLUMN event_id SET NOT NULL;
"""


def _first_day(cursor) -> datetime:
    cursor.execute("SELECT min(created_at) FROM delivery_event_legacy")
    (oldest,) = cursor.fetchone()
    today = datetime.now(UTC)
    return (oldest or today).astimezone(UTC)


def create_partitions(apps, schema_editor):
    """One partition per day from the oldest event of the legacy ledger to a week ahead."""
    with schema_editor.connection.cursor() as cursor:
        first = _first_day(cursor).date()
        last = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
        day = first
        while day <= last:
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            end = start + timedelta(days=1)
            for table in PARTITIONED:
                cursor.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table}_p{day:%Y%m%d}" PARTITION OF "{table}" '
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                )
            day += timedelta(days=1)


ATTEMPT_FIELDS: list[tuple[str, Any]] = [
    ("id", models.BigAutoField(primary_key=True, serialize=False)),
    ("trigger", models.CharField(max_length=8)),
    ("first_seq", models.BigIntegerField()),
    ("last_seq", models.BigIntegerField()),
    ("outcome", models.CharField(default="sent", max_length=12)),
    ("created_at", models.DateTimeField()),
    ("detail", models.CharField(blank=True, max_length=200)),
]


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0004_event_thread_index_dropped"),
        # Console's reveals point at the legacy event table, so they must exist before it moves;
        # a project that installs delivery without the console has no reveals to wait for.
        *([("console", "0003_user_lookup_indexes")] if registry.is_installed("console") else []),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="thread",
            name="acked_seq",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="thread",
            name="last_event_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="thread",
            name="reconcile_after",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="thread",
            name="reconciled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="connection",
            name="sent_seq",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="connection",
            name="transport",
            field=models.CharField(
                choices=[("websocket", "Websocket"), ("longpoll", "Longpoll")],
                default="websocket",
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="UndeliveredRange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("first_seq", models.BigIntegerField()),
                ("last_seq", models.BigIntegerField()),
                ("cause", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("reopened_at", models.DateTimeField(blank=True, null=True)),
                ("reopened_by", models.CharField(blank=True, max_length=150)),
                (
                    "thread",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="undelivered",
                        to="delivery.thread",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("reopened_at__isnull", True)),
                        fields=["thread", "last_seq"],
                        name="undelivered_open_idx",
                    ),
                    models.Index(fields=["created_at"], name="undelivered_recent_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditedEvent",
            fields=[
                ("event_id", models.UUIDField(primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField()),
                ("type", models.CharField(max_length=64)),
                ("payload", models.JSONField(default=dict)),
                ("critical", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField()),
                ("preserved_at", models.DateTimeField(auto_now_add=True)),
                (
                    "thread",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="delivery.thread",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["thread", "seq"], name="audited_thread_seq_idx")],
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(RENAME_LEGACY),
                migrations.RunSQL(CREATE_TABLES),
                migrations.RunPython(create_partitions, migrations.RunPython.noop),
                migrations.RunSQL(MOVE_DATA),
            ],
            state_operations=[
                migrations.RemoveField(model_name="replayitem", name="event"),
                migrations.DeleteModel(name="Event"),
                migrations.CreateModel(
                    name="Event",
                    fields=[
                        ("event_id", models.UUIDField(primary_key=True, serialize=False)),
                        ("seq", models.BigIntegerField()),
                        ("type", models.CharField(max_length=64)),
                        ("payload", models.JSONField(default=dict)),
                        ("critical", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField()),
                        (
                            "thread",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="events",
                                to="delivery.thread",
                            ),
                        ),
                    ],
                    options={"managed": False, "db_table": "delivery_event"},
                ),
                migrations.AddField(
                    model_name="replayitem",
                    name="event_id",
                    field=models.UUIDField(),
                    preserve_default=False,
                ),
                migrations.DeleteModel(name="DeliveryAttempt"),
                migrations.CreateModel(
                    name="DeliveryAttempt",
                    fields=[
                        *ATTEMPT_FIELDS,
                        (
                            "thread",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="attempts",
                                to="delivery.thread",
                            ),
                        ),
                        (
                            "connection",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="attempts",
                                to="delivery.connection",
                            ),
                        ),
                    ],
                    options={"managed": False, "db_table": "delivery_deliveryattempt"},
                ),
                migrations.CreateModel(
                    name="AckRange",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("above", models.BigIntegerField()),
                        ("upto", models.BigIntegerField()),
                        ("acked_at", models.DateTimeField()),
                        (
                            "thread",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="ack_ranges",
                                to="delivery.thread",
                            ),
                        ),
                        (
                            "connection",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="ack_ranges",
                                to="delivery.connection",
                            ),
                        ),
                    ],
                    options={"managed": False, "db_table": "delivery_ackrange"},
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name="thread",
            constraint=models.CheckConstraint(
                condition=models.Q(("acked_seq__gte", 0), ("acked_seq__lte", models.F("last_seq"))),
                name="thread_acked_within_allocated",
            ),
        ),
    ]
