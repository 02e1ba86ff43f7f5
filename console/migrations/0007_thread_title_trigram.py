"""A trigram index for the console's title match (`title__icontains` is
`UPPER(title) LIKE UPPER('%…%')`, which no b-tree serves): username and email searches also
match titles, and without it each one read every thread, 60 to 90 ms at 100,000 threads.

pg_trgm ships with PostgreSQL's contrib modules and is a trusted extension, so the database's
owner can create it. Where the server lacks it (the embedded PostgreSQL of `make run`), or the
role may not create it, the migration says so with a NOTICE and the title match stays a scan;
everything else works the same.
"""

from django.db import migrations

CREATE = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm not created (no privilege): console title search scans';
        END;
    ELSE
        RAISE NOTICE 'pg_trgm is not installed on this server: console title search scans';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS thread_title_trgm_idx
            ON delivery_thread USING gin (UPPER(title) gin_trgm_ops);
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0006_api_key_permission"),
        ("delivery", "0008_publication_idempotency_key"),
    ]

    operations = [migrations.RunSQL(CREATE, "DROP INDEX IF EXISTS thread_title_trgm_idx")]
