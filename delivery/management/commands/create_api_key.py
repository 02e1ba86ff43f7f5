from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from delivery.models import KeyScope
from delivery.wire.apikeys import create_api_key


class Command(BaseCommand):
    help = (
        "Create a service API key NAME and print it once, on the last line. "
        "Send it as `Authorization: Bearer <key>`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scope", action="append", choices=KeyScope.values, required=True,
            help="publish (emit to any thread) or read (any thread's history and presence); "
            "repeat for both",
        )  # fmt: skip
        parser.add_argument("--per-minute", type=int, default=600, help="requests a minute")

    def handle(self, *args: object, name: str, scope: list[str], per_minute: int,
               **options: object) -> None:  # fmt: skip
        if per_minute <= 0:
            raise CommandError("--per-minute must be a positive number")
        if not name.strip() or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters")
        try:
            record, key = create_api_key(name=name, scopes=scope, per_minute=per_minute)
        except IntegrityError:
            raise CommandError(
                f"a key named {name!r} exists; revoke it or pick another name"
            ) from None
        self.stdout.write(f"key {record.name} ({', '.join(record.scopes)}), shown once:")
        self.stdout.write(key)
