"""Case-insensitive indexes for the console's search by username and email (`__iexact` is
`UPPER(col) = UPPER(%s)` in PostgreSQL, which the plain unique index cannot serve)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("console", "0002_roles"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS console_user_email_upper_idx ON auth_user (UPPER(email))",
            "DROP INDEX IF EXISTS console_user_email_upper_idx",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS console_user_username_upper_idx"
            " ON auth_user (UPPER(username))",
            "DROP INDEX IF EXISTS console_user_username_upper_idx",
        ),
    ]
