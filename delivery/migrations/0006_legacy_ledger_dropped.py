"""Drop the legacy ledger tables once everything that pointed at them has moved (0005, and
console's reveals in console 0004)."""

from django.apps import apps as registry
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0005_append_only_ledger"),
        *([("console", "0004_reveal_event_id")] if registry.is_installed("console") else []),
    ]

    operations = [
        migrations.RunSQL(
            "DROP TABLE delivery_deliveryattempt_legacy; DROP TABLE delivery_event_legacy;",
            migrations.RunSQL.noop,
        ),
    ]
