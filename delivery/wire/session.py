"""What a socket holds once its user has joined a thread: the thread, the connection row and
the record of what it wrote and was acked. A consumer without one is not open, or closing."""

import time
import uuid
from dataclasses import dataclass, field

from delivery.fastpath.frames import group_name
from delivery.models import Thread
from delivery.wire.pacing import SocketProgress
from delivery.wire.revocation import Credential, user_group


@dataclass(slots=True)
class Session:
    thread: Thread
    connection_id: uuid.UUID
    progress: SocketProgress
    user_id: int
    credential: Credential
    # Heartbeat clocks (delivery/wire/heartbeats.py), all time.monotonic().
    opened: float = field(default_factory=time.monotonic)
    joined: float = field(default_factory=time.monotonic)  # last group_add
    last_pong: float = field(default_factory=time.monotonic)
    last_persisted: float = field(default_factory=time.monotonic)
    pinged: bool = False
    rejoin: bool = False  # a group join failed: join again, then catch up from the ledger

    @property
    def group(self) -> str:
        return group_name(self.thread.id)

    @property
    def user_group(self) -> str:
        return user_group(self.user_id)
