"""The process's fast-path publisher: one thread, one event loop, one Redis pool, kept for life.

`emit` commits and returns; on commit it hands the batch to `enqueue`. The publisher sends
what is queued in rounds: the batches of one thread in a round become one channel-layer message
(seq order), and all threads' messages go out together (`fanout.apublish_many`). Nothing is written
for a message every socket took: each socket records the frames it wrote (delivery/wire/pacing.py).
A message that was dropped or failed is recorded as one attempt row and redelivered. Under load
a round carries many emits, so the layer and daphne see far fewer messages than events; when
idle a round is a single emit.

Sync code that must send something itself (redelivery, replay) runs its coroutine here with
`call`, instead of `async_to_sync`, which builds a new event loop, and so a new Redis
connection, on every call.

If the process dies with batches still queued, their events stay unsent: the reconciler sends
them to any live connection (docs/architecture.md, "One event, from `emit` to the client's
ack"), and a client's resume does.
"""

import asyncio
import atexit
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

from channels.layers import DEFAULT_CHANNEL_LAYER, BaseChannelLayer, channel_layers
from django.core.signals import setting_changed
from django.db import close_old_connections
from django.db import connections as databases

from delivery import metrics, signals
from delivery.fastpath import fanout
from delivery.models import Event, Trigger

logger = logging.getLogger(__name__)

T = TypeVar("T")
Batch = tuple[uuid.UUID, Sequence[Event], float]  # thread, events, when it was queued


class Call(NamedTuple):
    work: Coroutine[Any, Any, Any] | Callable[[], Any]  # a coroutine, or sync work between rounds
    future: "Future[Any]"


MAX_ROUND = 10_000  # queued items one round takes at most
DRAIN_ON_EXIT = 5.0  # seconds an exiting process waits for its queued batches


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._unfinished = 0
        self._pid: int | None = None
        self._queue: queue.SimpleQueue[Batch | Call] = queue.SimpleQueue()
        self._layer: BaseChannelLayer | None = None
        self.rounds = self.batches = 0  # for benchmarks: how much rounds coalesce

    def enqueue(self, thread_id: uuid.UUID, events: Sequence[Event]) -> None:
        """Queue a committed batch for the fast path. Never blocks on Redis or the ledger."""
        self._ensure_running()
        with self._lock:
            self._unfinished += 1
        self._queue.put((thread_id, events, time.monotonic()))

    def send(self, thread_id: uuid.UUID, events: Sequence[Event], *, trigger: str) -> str:
        """Send `events` now, from sync code, on the publisher's loop, and say what became of it."""
        return self.call(fanout.apublish(thread_id, events, trigger=trigger, layer=self.layer))

    def call(
        self, work: Coroutine[Any, Any, T] | Callable[[], T], timeout: float | None = None
    ) -> T:
        """Run a coroutine on the publisher's loop, or a function in its thread between rounds
        (where the ORM is allowed), from sync code, and return its result."""
        self._ensure_running()
        future: Future[T] = Future()
        self._queue.put(Call(work, future))
        return future.result(timeout)

    def close_ledger_connection(self) -> None:
        """Close the publisher thread's database connection (tests drop their database)."""
        if self._pid == os.getpid():
            self.call(databases.close_all, timeout=10)

    @property
    def layer(self) -> BaseChannelLayer:
        """The publisher's own layer instance: its Redis pool belongs to the publisher's loop,
        which no other loop's `flush()` or `close_pools()` may touch."""
        if self._layer is None:
            self._layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        return self._layer

    def reset_layer(self, **kwargs: Any) -> None:
        if kwargs.get("setting") in (None, "CHANNEL_LAYERS"):
            self._layer = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued batch is sent and its misses recorded; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def _ensure_running(self) -> None:
        # The pid check restarts the thread in a forked child (Celery's prefork pool).
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._unfinished = 0
            self._queue = queue.SimpleQueue()
            self._layer = None  # a forked child must not share its parent's connections
            threading.Thread(target=self._run, name="ledgerline-publisher", daemon=True).start()
            self._pid = os.getpid()

    def _run(self) -> None:
        # The loop runs only while a round is on the wire, so between rounds this thread may
        # use the ORM (Django refuses sync queries in a thread whose loop is running).
        loop = asyncio.new_event_loop()
        while True:
            items = [self._queue.get()]
            while len(items) < MAX_ROUND:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batches = [item for item in items if not isinstance(item, Call)]
            if batches:
                self.rounds, self.batches = self.rounds + 1, self.batches + len(batches)
                self._round(loop, batches)
            for item in items:
                if isinstance(item, Call):
                    self._run_call(loop, item)

    def _run_call(self, loop: asyncio.AbstractEventLoop, call: Call) -> None:
        work, future = call
        try:
            result = loop.run_until_complete(work) if asyncio.iscoroutine(work) else work()  # type: ignore[operator]
            future.set_result(result)
        except BaseException as exc:
            future.set_exception(exc)

    def _round(self, loop: asyncio.AbstractEventLoop, batches: list[Batch]) -> None:
        try:
            settled = loop.run_until_complete(_publish_round(self.layer, batches))
            missed = fanout.settle_live(settled)
            if missed:
                close_old_connections()  # receivers write between rounds, where the ORM may run
                signals.fast_path_missed.send(sender=Publisher, sends=missed)
        except Exception:
            # The events are committed; the reconciler and the client's resume deliver them.
            logger.exception("fast-path round of %s batch(es) failed", len(batches))
        with self._idle:
            self._unfinished -= len(batches)
            self._idle.notify_all()


async def _publish_round(
    layer: BaseChannelLayer, batches: list[Batch]
) -> list[tuple[uuid.UUID, list[Event], Any]]:
    by_thread: dict[uuid.UUID, list[Event]] = {}
    for thread_id, events, _ in batches:
        by_thread.setdefault(thread_id, []).extend(events)
    groups = [(t, sorted(events, key=lambda e: e.seq)) for t, events in by_thread.items()]
    # Every thread's message in two pipelined Redis calls per host, however many threads.
    outcomes = await fanout.apublish_many(groups, trigger=Trigger.LIVE, layer=layer)
    sent = time.monotonic()
    for _, _, queued in batches:
        metrics.fast_path_lag.observe(sent - queued)
    return [(t, events, outcome) for (t, events), outcome in zip(groups, outcomes, strict=True)]


publisher = Publisher()
setting_changed.connect(publisher.reset_layer)


@atexit.register
def _drain_on_exit() -> None:
    if publisher._pid == os.getpid() and not publisher.wait_idle(DRAIN_ON_EXIT):
        logger.warning("exiting with fast-path batches unsent; the reconciler will send them")
