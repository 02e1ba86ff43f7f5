"""The timeline's one sentence per unacknowledged event: why it is not acknowledged, in words an
operator can read to the user ("sent twice to a connection that died 3 s later, never acked")."""

from datetime import datetime

from django.utils import timezone

from delivery.ledger.selectors import EventState, EventStatus
from delivery.models import Connection, Transport


def clock(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S}" if moment else "?"


def span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def transport_name(conn: Connection) -> str:
    return "long-poll session" if conn.transport == Transport.LONGPOLL else "connection"


def connection_at(connections: list[Connection], moment: datetime) -> Connection | None:
    """The newest connection open at `moment` (connections are newest first)."""
    for conn in connections:
        if conn.opened_at <= moment and (conn.closed_at is None or conn.closed_at >= moment):
            return conn
    return None


def explain(status: EventStatus, connections: list[Connection], live: bool) -> str:
    """Why an event is not acknowledged, in one sentence an operator can read to a user."""
    if status.state == EventState.ACKED:
        return ""
    if status.last_sent_at is None:
        story = (
            "committed, not yet sent: the fast path failed; the reconciler resends it"
            if live
            else "committed while no client was connected; goes out on next connect"
        )
    else:
        story = _delivery_story(status, connections, live)
    if status.state == EventState.UNDELIVERED:
        cause = status.undelivered_cause or "no ack"
        return f"{story}; given up ({cause}): needs a replay"
    return story


def _delivery_story(status: EventStatus, connections: list[Connection], live: bool) -> str:
    last_sent = status.last_sent_at
    assert last_sent is not None
    count = len(status.sends)
    times = "once" if count == 1 else f"{count} times"
    sent = f"sent {times} (last {clock(last_sent)})"
    last = status.sends[-1]
    conn = last.connection or connection_at(connections, last_sent)
    if conn is None:
        return f"{sent} with no connection open; waiting for client"
    kind = transport_name(conn)
    if conn.closed_at is not None:
        after = (conn.closed_at - last_sent).total_seconds()
        how = f"died ({conn.close_reason})" if conn.state == "dead" else "closed"
        code = f" with code {conn.close_code}" if conn.close_code else ""
        waiting = "" if live else f"; waiting for client since {clock(conn.closed_at)}"
        return f"{sent} to a {kind} that {how}{code} {span(after)} later, never acked{waiting}"
    age = (timezone.now() - last_sent).total_seconds()
    acked = f"it acked up to seq {conn.acked_seq}"
    return f"{sent} to the live {kind} {str(conn.id)[:8]}; no ack for {span(age)} ({acked})"
