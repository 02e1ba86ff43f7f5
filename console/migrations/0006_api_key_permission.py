"""Admins manage service API keys in the console (`console.manage_api_keys`)."""

from django.db import migrations


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="console", model="contentreveal")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="manage_api_keys",
        defaults={"name": "Can create and revoke service API keys"},
    )
    Group.objects.get_or_create(name="admin")[0].permissions.add(permission)


def revoke(apps, schema_editor):
    apps.get_model("auth", "Permission").objects.filter(codename="manage_api_keys").delete()


class Migration(migrations.Migration):
    dependencies = [("console", "0005_reveal_reason_paced_replay"), ("delivery", "0007_api_keys")]

    operations = [
        migrations.AlterModelOptions(
            name="contentreveal",
            options={
                "default_permissions": (),
                "permissions": [
                    ("view_console", "Can open the operator console"),
                    ("reveal_content", "Can reveal message content (audited)"),
                    ("replay_events", "Can dry-run and replay events"),
                    ("run_verification", "Can run startup verification"),
                    ("manage_alerts", "Can acknowledge and resolve alerts"),
                    ("manage_api_keys", "Can create and revoke service API keys"),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
