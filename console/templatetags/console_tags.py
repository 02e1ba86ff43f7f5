"""Small formatting filters for the console templates."""

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def short(value: Any) -> str:
    """The first 8 characters of an id: enough to tell threads apart on screen."""
    return str(value)[:8]


@register.filter
def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 90:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


@register.filter
def ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    delta = (timezone.now() - moment).total_seconds()
    if delta < 60:
        return f"{delta:.0f} s ago"
    if delta < 3600:
        return f"{delta / 60:.0f} min ago"
    if delta < 86400 * 2:
        return f"{delta / 3600:.1f} h ago"
    return f"{delta / 86400:.0f} d ago"


@register.filter
def percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)
