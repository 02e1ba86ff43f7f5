"""A user's client on a real socket that stops acknowledging mid-run (the scripted failure).

It runs in a thread with the `websockets` sync client, answers pings, records every event frame
and acknowledges only what `should_ack(frame)` allows. Like a real client it reconnects after an
abnormal close, resuming after the last seq it received.
"""

import json
import threading
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

Frame = dict[str, Any]


class TicketClient(threading.Thread):
    def __init__(self, url: str, should_ack: Callable[[Frame], bool]) -> None:
        super().__init__(daemon=True)
        self.url, self.should_ack = url, should_ack
        self.frames: list[Frame] = []
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.reconnects = 0

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    self.session()
                except ConnectionClosedError:
                    self.reconnects += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
            self.ready.set()

    def session(self) -> None:
        after = max((f["seq"] for f in self.frames), default=0)
        with connect(f"{self.url}&after={after}", open_timeout=10) as ws:
            self.ready.set()
            while not self.stopping.is_set():
                try:
                    raw = ws.recv(timeout=0.1)
                except TimeoutError:
                    continue
                self.handle(ws, json.loads(raw))

    def handle(self, ws: Any, frame: Frame) -> None:
        if frame["type"] == "ping":
            ws.send(json.dumps({"type": "pong", "t": frame["t"]}))
        elif frame["type"] == "event":
            self.frames.append(frame)
            if self.should_ack(frame):
                ws.send(json.dumps({"type": "ack", "seq": frame["seq"]}))

    def replayed_seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if f.get("replay")]

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
