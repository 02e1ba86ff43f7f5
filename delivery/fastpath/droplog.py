"""One WARNING line per interval for the layer's drops, with counts, instead of one a drop.

A burst past a channel's capacity drops hundreds of messages in a second; each is counted in
`websocket_events_dropped_total` and redelivered, so a line per drop says nothing the counter
does not, and buries what else the log holds. The first drop after a quiet spell is logged at
once; the rest of the interval is summed into one line when it ends.
"""

import logging
import threading
from dataclasses import dataclass, field

logger = logging.getLogger("delivery.fastpath.fanout")

INTERVAL = 10.0  # seconds summed into one line


@dataclass
class Dropped:
    messages: int = 0
    events: int = 0
    sockets: int = 0
    threads: set[str] = field(default_factory=set)


class DropLog:
    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._pending = Dropped()
        self._timer: threading.Timer | None = None

    def add(self, *, thread_id: object, events: int, sockets: int) -> None:
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(self.interval, self.flush)
                self._timer.daemon = True
                self._timer.start()
                first = True
            else:
                first = False
                self._pending.messages += 1
                self._pending.events += events
                self._pending.sockets += sockets
                self._pending.threads.add(str(thread_id))
        if first:
            logger.warning(
                "channel layer dropped %s event(s) of thread %s for %s socket(s) (channel_full); "
                "redelivering. Drops in the next %.0f s are summed in one line.",
                events, thread_id, sockets, self.interval,
            )  # fmt: skip

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Dropped()
            self._timer = None
        if pending.messages:
            logger.warning(
                "channel layer dropped %s more message(s) (%s event(s), %s socket send(s), "
                "%s thread(s)) in %.0f s (channel_full); all redelivered from the ledger",
                pending.messages, pending.events, pending.sockets,
                len(pending.threads), self.interval,
            )  # fmt: skip


drop_log = DropLog()
