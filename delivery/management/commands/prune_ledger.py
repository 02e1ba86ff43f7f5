from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from delivery import conf
from delivery.ledger.retention import PruneReport, prune_ledger


class Command(BaseCommand):
    help = (
        "Drop the ledger's daily partitions (events, delivery attempts, ack ranges) older than "
        "--days (default LEDGERLINE_RETENTION_DAYS), and old closed connections. See "
        "delivery/ledger/retention.py for the rule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="retention in days")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go; delete nothing"
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per transaction")

    def handle(
        self,
        *args: object,
        days: int | None,
        dry_run: bool,
        batch_size: int,
        **options: object,
    ) -> None:
        days = self._days(days)
        if batch_size < 1:
            raise CommandError("--batch-size must be a positive number of rows")
        cutoff = timezone.now() - timedelta(days=days)
        report = prune_ledger(older_than=cutoff, batch_size=batch_size, dry_run=dry_run)
        self.stdout.write(describe(report))

    def _days(self, days: int | None) -> int:
        if days is not None:
            if days < 1:
                raise CommandError("--days must be a positive number of days")
            return days
        configured = conf.current().retention_days
        if configured < 1:
            raise CommandError(
                "retention is off (LEDGERLINE_RETENTION_DAYS=0): nothing is pruned. "
                "Pass --days N to prune once anyway."
            )
        return configured


def describe(report: PruneReport) -> str:
    verb = "would drop" if report.dry_run else "dropped"
    prefix = "Dry run: nothing dropped. " if report.dry_run else ""
    days = f"{report.days[0]} to {report.days[-1]}" if report.days else "none"
    return (
        f"{prefix}Older than {report.cutoff:%Y-%m-%d %H:%M} UTC, {verb} "
        f"{len(report.days)} day(s) of partitions ({days}): {report.events} event(s), "
        f"{report.attempts} delivery attempt(s) and {report.ack_ranges} ack range(s); "
        f"{report.dropped_unacked} of those events were never acknowledged.\n"
        f"Deleted {report.connections} closed connection(s) and "
        f"{report.undelivered_ranges} undelivered range(s) in {report.duration:.2f}s."
    )
