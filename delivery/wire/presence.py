"""Presence frames, for clients that connect with `?presence=1`: who joins and leaves.

Every socket announces its join and its leave on the thread's group; only the sockets that
asked for presence write a frame for it, and never one about themselves. The current list is
`GET /api/threads/<id>/presence` (delivery/wire/publishing.py).
"""

from typing import TYPE_CHECKING, Any

from delivery.models import Transport
from delivery.wire.auth import query_params
from delivery.wire.session import Session

if TYPE_CHECKING:
    from channels.generic.websocket import AsyncJsonWebsocketConsumer as SocketBase
else:
    SocketBase = object


def wants_presence(scope: dict[str, Any]) -> bool:
    return query_params(scope).get("presence", [""])[0] in ("1", "true")


class PresenceSocket(SocketBase):
    session: Session | None
    wants_presence: bool

    async def announce_presence(self, session: Session, event: str) -> None:
        """Tell the thread's other sockets that this one joined or left."""
        message = {
            "type": "presence.changed",
            "event": event,
            "connection": str(session.connection_id),
            "transport": Transport.WEBSOCKET.value,
        }
        await self.channel_layer.group_send(session.group, message)

    async def presence_changed(self, message: dict[str, Any]) -> None:
        session = self.session
        if not self.wants_presence or session is None:
            return
        if message["connection"] == str(session.connection_id):
            return
        frame = {key: message[key] for key in ("event", "connection", "transport")}
        await self.send_json({"type": "presence", **frame})
