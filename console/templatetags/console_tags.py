"""Small formatting filters for the console templates."""

from datetime import datetime
from typing import Any

from django import template
from django.http import QueryDict
from django.utils import timezone

from console.pacing import WAVE_EVENTS
from console.recovery import UNACKED

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


@register.filter
def transport(connection: Any) -> str:
    """How a client was connected: a WebSocket, or a long-poll session (a connection too)."""
    if connection is None:
        return "connection"
    return "long-poll session" if connection.transport == "longpoll" else "WebSocket"


@register.filter
def halve(value: int) -> float:
    return value / 2


@register.filter
def uptime(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def _states_query(query: str, *, acked: bool) -> QueryDict:
    params = QueryDict(query, mutable=True)
    picked = [s for v in params.getlist("states") for s in v.split(",") if s] or list(UNACKED)
    picked = [s for s in picked if s != "acked"] + (["acked"] if acked else [])
    params.setlist("states", [",".join(picked)])
    params.pop("acked_ok", None)
    params.pop("page", None)
    return params


@register.filter
def with_acked(query: str) -> str:
    """The dry run's query with acknowledged events asked for (the warning comes first)."""
    return _states_query(query, acked=True).urlencode()


@register.filter
def without_acked(query: str) -> str:
    return _states_query(query, acked=False).urlencode()


@register.filter
def with_page(query: str, number: int) -> str:
    params = QueryDict(query, mutable=True)
    params["page"] = str(number)
    return params.urlencode()


@register.filter
def waves(events: int) -> int:
    return -(-events // WAVE_EVENTS)


@register.filter
def scope_text(detail: dict[str, str], scope: str) -> str:
    """A replay's scope in words, from the fields that planned it."""
    thread = str(detail.get("thread", ""))[:8]
    if scope == "event":
        words = f"event {str(detail.get('event', ''))[:8]}"
    elif scope == "range":
        words = f"seqs {detail.get('first')}–{detail.get('last')} of thread {thread}"  # noqa: RUF001
    elif scope == "thread":
        words = f"everything not acknowledged in thread {thread}"
    else:
        shown = {
            k: v for k, v in detail.items() if k in ("q", "window", "from", "to", "health", "type")
        }
        words = "threads matching " + (", ".join(f"{k} {v}" for k, v in shown.items()) or "all")
    states = detail.get("states")
    return f"{words} · states {states.replace(',', ', ')}" if states else words
