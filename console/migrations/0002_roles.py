"""The two console roles as groups. Permissions are created here, not left to post_migrate,
so the groups are complete as soon as this migration has run."""

from django.db import migrations

PERMISSIONS = {
    "view_console": "Can open the operator console",
    "reveal_content": "Can reveal message content (audited)",
    "replay_events": "Can dry-run and replay events",
    "run_verification": "Can run startup verification",
    "manage_alerts": "Can acknowledge and resolve alerts",
}
# Support sees everything but message content; reveal is an extra, per-user permission.
ROLES = {
    "support": ["view_console"],
    "admin": ["view_console", "replay_events", "run_verification", "manage_alerts"],
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="console", model="contentreveal")
    permissions = {
        codename: Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )[0]
        for codename, name in PERMISSIONS.items()
    }
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(permissions[c] for c in codenames))


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_content_reveal"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
