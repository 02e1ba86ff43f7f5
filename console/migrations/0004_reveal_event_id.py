"""Reveals name their event by `event_id`, and the revealed events are copied to
delivery_auditedevent, so the ledger's partitions can be dropped by retention."""

from django.db import migrations, models

MOVE_REVEALS = """
INSERT INTO delivery_auditedevent (event_id, thread_id, seq, type, payload, critical, created_at,
                                   preserved_at)
SELECT DISTINCT ON (e.event_id) e.event_id, e.thread_id, e.seq, e.type, e.payload, e.critical,
       e.created_at, now()
  FROM delivery_event_legacy e JOIN console_contentreveal r ON r.event_id = e.id
ON CONFLICT (event_id) DO NOTHING;
ALTER TABLE console_contentreveal ADD COLUMN event_uuid uuid;
UPDATE console_contentreveal r SET event_uuid = e.event_id
  FROM delivery_event_legacy e WHERE e.id = r.event_id;
ALTER TABLE console_contentreveal DROP COLUMN event_id;
ALTER TABLE console_contentreveal RENAME COLUMN event_uuid TO event_id;
ALTER TABLE console_contentreveal ALTER COLUMN event_id SET NOT NULL;
CREATE INDEX console_contentreveal_event_id_idx ON console_contentreveal (event_id);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_user_lookup_indexes"),
        ("delivery", "0005_append_only_ledger"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(MOVE_REVEALS)],
            state_operations=[
                migrations.RemoveField(model_name="contentreveal", name="event"),
                migrations.AddField(
                    model_name="contentreveal",
                    name="event_id",
                    field=models.UUIDField(db_index=True),
                    preserve_default=False,
                ),
            ],
        ),
    ]
