"""Create the demo users `make run` offers a newcomer: admin, support and demo.

Passwords are random, printed once when a user is created, and appended to
`.run/demo-credentials.txt` (mode 0600) for whoever lost the terminal. Rerunning changes nothing.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

# username -> (is_staff, is_superuser, what the account is for)
DEMO_USERS = {
    "admin": (True, True, "superuser: Django admin and every console action"),
    "support": (True, False, "support staff: views threads, cannot act"),
    "demo": (False, False, "end user: chats with the demo agent"),
}
# Support staff view what the operator apps hold, never delivery content (the console reveals
# that, audited); acting (replay, ...) stays with admins.
SUPPORT_VIEW_APPS = ("monitoring", "console")
# The console roles (groups created by this app's migration 0002_roles).
DEMO_GROUPS = {"admin": "admin", "support": "support"}


def credentials_path() -> Path:
    return Path(settings.BASE_DIR) / ".run" / "demo-credentials.txt"


class Command(BaseCommand):
    help = "Create the demo users (admin, support, demo) with random passwords, once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give the existing demo users new random passwords (if the file was lost)",
        )

    def handle(self, *args: object, reset_passwords: bool, **options: object) -> None:
        path = credentials_path()
        created = self.seed(reset=reset_passwords)
        if not created:
            where = f"in {path}" if path.exists() else f"lost ({path} is missing)"
            self.stdout.write(
                f"Demo users already exist ({', '.join(DEMO_USERS)}); their passwords are {where}. "
                "New ones: manage.py seed_demo --reset-passwords"
            )
            return
        self.record(path, created)
        self.stdout.write(self.style.SUCCESS("Demo users (these passwords are shown only once):"))
        for username, password in created.items():
            self.stdout.write(f"  {username:8} {password:24} {DEMO_USERS[username][2]}")
        self.stdout.write(f"They are also saved in {path} (readable only by you).")

    @transaction.atomic
    def seed(self, *, reset: bool) -> dict[str, str]:
        """Create missing demo users (or reset all with reset=True); return their new passwords."""
        created: dict[str, str] = {}
        for username, (is_staff, is_superuser, _) in DEMO_USERS.items():
            user, is_new = get_user_model().objects.get_or_create(
                username=username,
                defaults={"is_staff": is_staff, "is_superuser": is_superuser},
            )
            if username in DEMO_GROUPS:
                user.groups.add(*Group.objects.filter(name=DEMO_GROUPS[username]))
            if not (is_new or reset):
                continue
            created[username] = secrets.token_urlsafe(12)
            user.set_password(created[username])
            user.save()
            if username == "support":
                user.user_permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label__in=SUPPORT_VIEW_APPS, codename__startswith="view_"
                    )
                )
        return created

    def record(self, path: Path, created: dict[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # also when the file already existed with a looser mode
        with os.fdopen(fd, "a") as out:
            out.write(f"# {timezone.now():%Y-%m-%d %H:%M} UTC; a user's latest line is current\n")
            for username, password in created.items():
                out.write(f"{username} {password}  # {DEMO_USERS[username][2]}\n")
