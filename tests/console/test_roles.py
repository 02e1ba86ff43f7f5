"""The console roles come from a data migration, and the demo users are put in them."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from console.access import allowed

pytestmark = pytest.mark.django_db


def perms(name: str) -> set[str]:
    return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))


def test_migration_creates_support_and_admin_roles():
    assert perms("support") == {"view_console"}
    assert perms("admin") == {
        "view_console",
        "replay_events",
        "run_verification",
        "manage_alerts",
        "manage_api_keys",
    }


def test_seed_demo_puts_support_and_admin_in_their_groups(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo")
    users = get_user_model().objects
    support, admin, demo = (users.get(username=n) for n in ("support", "admin", "demo"))
    assert list(support.groups.values_list("name", flat=True)) == ["support"]
    assert list(admin.groups.values_list("name", flat=True)) == ["admin"]
    assert allowed(support) and not allowed(support, "replay_events")
    assert allowed(admin, "replay_events") and not allowed(demo)
