"""The clock tool: the current time in UTC, as the server sees it."""

from datetime import UTC, datetime


def now(clock: datetime | None = None) -> dict[str, str]:
    moment = clock or datetime.now(UTC)
    return {
        "utc": moment.isoformat(timespec="seconds"),
        "text": moment.strftime("%A %d %B %Y, %H:%M:%S UTC"),
    }
