"""The socket's side of revocation: a socket whose credential no longer holds closes with 4401.

Announcements arrive on the user's group (`auth.revoked`, delivery/wire/revocation.py); a
token's socket closes when the token expires, on a timer set at connect; and the heartbeat,
once per ping interval, rechecks every open socket's credential against the database in one
batch (`recheck`), the backstop for whatever was never announced.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from delivery.wire.protocol import CloseCode, error_frame
from delivery.wire.revocation import Credential, revoked_among
from delivery.wire.session import Session

if TYPE_CHECKING:
    from channels.generic.websocket import AsyncJsonWebsocketConsumer as SocketBase
else:
    SocketBase = object


class RevocableSocket(SocketBase):
    session: Session | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expiry: asyncio.TimerHandle | None = None
        self.expired: asyncio.Task[None] | None = None

    def close_at_expiry(self, expires_at: float | None) -> None:
        """Close with 4401 the moment the socket's token runs out (epoch seconds; None for a
        session, whose expiry the recheck covers). `forget_expiry` on close."""
        if expires_at is None:
            return
        loop = asyncio.get_running_loop()
        self.expiry = loop.call_later(max(0.0, expires_at - time.time()), self._expire_token)

    def _expire_token(self) -> None:
        self.expired = asyncio.ensure_future(self.revoke("token expired"))

    def forget_expiry(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()  # a 30-day timer would keep the closed socket alive
            self.expiry = None

    async def finish(self, code: int | None, reason: str, *, dead: bool = False) -> None:
        raise NotImplementedError

    async def auth_revoked(self, message: dict[str, Any]) -> None:
        """`auth.revoked` on the user's group: close if it names this socket's credential."""
        session = self.session
        announced = Credential(str(message.get("kind", "")), str(message.get("key", "")))
        if session is not None and announced.covers(session.credential):
            await self.revoke(str(message.get("reason", "credential revoked")))

    async def revoke(self, reason: str) -> None:
        """Say why, then close with 4401; the client must authenticate again."""
        if self.session is None:
            return
        await self.send_json(error_frame("unauthenticated", reason))
        await self.finish(CloseCode.UNAUTHENTICATED, reason)
        await self.close(code=CloseCode.UNAUTHENTICATED)


@database_sync_to_async
def _revoked(held: list[tuple[int, Credential]]) -> set[int]:
    return revoked_among(held)


async def recheck(sockets: Sequence[RevocableSocket]) -> None:
    """The heartbeat's backstop: close the sockets among these whose credential no longer
    holds, however the revocation was written."""
    open_ = [s for s in sockets if s.session is not None]
    held = [(s.session.user_id, s.session.credential) for s in open_ if s.session is not None]
    if not held:
        return
    for index in await _revoked(held):
        await open_[index].revoke("credential revoked")
