from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from delivery.wire.tokens import revoke_tokens


class Command(BaseCommand):
    help = "Revoke every live API token of USERNAME; their open sockets close with 4401."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: object, username: str, **options: object) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        count = revoke_tokens(user=user)
        self.stdout.write(f"revoked {count} token(s) of {username}")
