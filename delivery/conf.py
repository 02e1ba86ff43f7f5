"""Typed access to the delivery timings in `settings.LEDGERLINE`."""

from django.conf import settings


def timing(name: str) -> float:
    return float(settings.LEDGERLINE[name])


def limit(name: str) -> int:
    return int(settings.LEDGERLINE[name])
