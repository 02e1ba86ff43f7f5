"""`manage.py verify_delivery`: check the running stack end to end; exit 1 when it fails."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.verification import run_verification, verify_until_ok


class Command(BaseCommand):
    help = "Verify delivery end to end (database, channel layer, worker, beat, canary)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retry-for",
            type=float,
            default=0.0,
            help="seconds to keep re-running while the stack starts (each run is recorded)",
        )
        parser.add_argument("--trigger", default="manual")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry_for"] > 0:
            run = verify_until_ok(retry_for=options["retry_for"], trigger=options["trigger"])
        else:
            run = run_verification(trigger=options["trigger"])
        for check in run.checks:
            mark = "ok    " if check["ok"] else "FAILED"
            self.stdout.write(
                f"{mark} {check['name']:<22} {check['duration']:>7.3f}s  {check['detail']}"
            )
        if not run.ok:
            raise CommandError(f"verification {run.pk} failed: {', '.join(run.failed_checks)}")
        self.stdout.write(self.style.SUCCESS(f"verification {run.pk} passed"))
