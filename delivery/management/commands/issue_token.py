from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from delivery.wire.tokens import issue_token


class Command(BaseCommand):
    help = "Issue a signed, expiring API token for USERNAME (WebSocket ?token= or Bearer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--label", default="", help="what the token is for")
        parser.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")

    def handle(
        self, *args: object, username: str, label: str, ttl: int | None, **options: object
    ) -> None:
        if ttl is not None and ttl <= 0:
            raise CommandError("--ttl must be a positive number of seconds")
        try:
            user = get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no active user named {username!r}") from None
        self.stdout.write(issue_token(user=user, label=label, ttl=ttl))
