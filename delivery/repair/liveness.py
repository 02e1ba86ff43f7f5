"""Connections whose heartbeat (or polls) stopped: marked dead by the reconciler, and their
channels taken out of their thread's group."""

import logging
import uuid
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from delivery import conf, metrics, signals
from delivery.fastpath.frames import group_name
from delivery.models import Connection

logger = logging.getLogger(__name__)


def dead_connection_bound() -> float:
    """Seconds of heartbeat silence after which a live connection row is surely dead.

    The consumer writes `last_seen_at` at most every HEARTBEAT_PERSIST_INTERVAL and closes a
    silent socket itself after PING_TIMEOUT; a row older than both (plus one ping) belongs to
    a socket whose process died or hung. A long-poll session is seen on each poll, so it gets
    one long poll more.
    """
    return (
        conf.current().ping_timeout
        + conf.current().heartbeat_persist_interval
        + conf.current().ping_interval
    )


DEAD_SQL = """
    UPDATE delivery_connection SET state = 'dead', closed_at = now(),
           close_reason = CASE transport WHEN 'longpoll' THEN 'polls stopped (reconciler)'
                          ELSE 'heartbeat stopped (reconciler)' END
     WHERE state = 'live'
       AND last_seen_at < CASE transport WHEN 'longpoll' THEN %s ELSE %s END
 RETURNING thread_id, channel_name"""


def mark_dead_connections() -> int:
    """Mark live rows whose heartbeat stopped dead, and take their channels out of the group.

    A crashed daphne leaves its channels in the thread's group; the layer would keep queueing
    for them until `capacity` and then report every send to that thread as a drop.
    """
    bound = dead_connection_bound()
    now = timezone.now()
    polls = now - timedelta(seconds=bound + conf.current().long_poll_seconds)
    with connection.cursor() as cursor:
        cursor.execute(DEAD_SQL, [polls, now - timedelta(seconds=bound)])
        dead = [(thread_id, channel) for thread_id, channel in cursor.fetchall()]
    if not dead:
        return 0
    async_to_sync(_leave_groups)(dead)
    metrics.connections_marked_dead.inc(len(dead))
    logger.warning("marked %s connection(s) dead: their heartbeat stopped", len(dead))
    signals.connections_marked_dead.send(sender=Connection, count=len(dead))
    return len(dead)


async def _leave_groups(dead: list[tuple[uuid.UUID, str]]) -> None:
    layer = get_channel_layer()
    for thread_id, channel in dead:
        if not channel or layer is None:
            continue
        try:
            await layer.group_discard(group_name(thread_id), channel)
        except Exception:
            logger.exception("could not remove dead channel %s from its group", channel)
