"""`manage.py verify_delivery`: check the running stack end to end; exit 1 when it fails.

Run through `config.embedded exec` (the embedded servers were started for this command alone),
it verifies the stack `make run` started instead: with that stack's Redis and PUBLIC_URL
(monitoring/stack.py), by running itself again with them. With no stack running it says so and
records nothing, so the live system's readiness and alerts are left as they are.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.stack import Stack, live_stack
from monitoring.verification import run_verification, verify_until_ok

# Set on the re-run, so it verifies with what it was given.
ON_STACK = "LEDGERLINE_VERIFY_ON_STACK"


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
        if os.environ.get("LEDGERLINE_EMBEDDED") and not os.environ.get(ON_STACK):
            stack = live_stack()
            if stack is None:
                raise CommandError(
                    "No Ledgerline stack is running (start one with `make run`): nothing was "
                    "verified, and no run or alert was recorded."
                )
            if stack.differs_from(dict(os.environ)):
                self.verify_on(stack, options)
                return
        self.verify(options)

    def verify(self, options: dict[str, Any]) -> None:
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

    def verify_on(self, stack: Stack, options: dict[str, Any]) -> None:
        """This process's Redis was embedded for it alone: run again with the running stack's
        own addresses, which the re-run's settings read."""
        public = stack.env.get("PUBLIC_URL", settings.PUBLIC_URL)
        self.stdout.write(f"Verifying the running stack (pid {stack.pid}) at {public}")
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "verify_delivery"]
        command += ["--trigger", options["trigger"], "--retry-for", str(options["retry_for"])]
        env = {**os.environ, **stack.env, ON_STACK: "1"}
        done = subprocess.run(command, env=env, check=False)  # noqa: S603
        if done.returncode:
            raise CommandError("verification of the running stack failed (see above)")
