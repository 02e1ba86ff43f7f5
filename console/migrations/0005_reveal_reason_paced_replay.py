"""A reveal says why; a replay too large to send at once is paced in waves."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_reveal_event_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="contentreveal",
            name="reason",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.CreateModel(
            name="PacedReplay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("actor_name", models.CharField(max_length=150)),
                ("reason", models.CharField(max_length=500)),
                ("ticket", models.CharField(blank=True, max_length=100)),
                ("scope", models.CharField(max_length=8)),
                ("scope_detail", models.JSONField(default=dict)),
                ("planned_events", models.PositiveIntegerField()),
                ("planned_threads", models.PositiveIntegerField()),
                ("pause", models.FloatField()),
                ("waves", models.JSONField(default=list)),
                ("next_wave", models.PositiveIntegerField(default=0)),
                ("skipped", models.PositiveIntegerField(default=0)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("cancelling", "Cancelling"),
                            ("cancelled", "Cancelled"),
                            ("done", "Done"),
                        ],
                        default="running",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("cancelled_by", models.CharField(blank=True, max_length=150)),
                (
                    "actor",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "default_permissions": (),
            },
        ),
    ]
