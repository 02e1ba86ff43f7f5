"""Who acknowledged and resolved an alert, their notes, and what cleared it when Ledgerline
resolved it itself. Alerts resolved before this were resolved by someone unrecorded: they say so
rather than look resolved by Ledgerline."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="acknowledge_note",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="alert",
            name="acknowledged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="alert",
            name="acknowledged_by",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="alert",
            name="cause",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="alert",
            name="resolve_note",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="alert",
            name="resolved_by",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.RunSQL(
            "UPDATE monitoring_alert SET resolved_by = '(not recorded)' WHERE state = 'resolved'",
            migrations.RunSQL.noop,
        ),
    ]
