"""Logs that help: a burst of drops is one line per interval, a send to a socket that just
closed is a counter, never an ERROR traceback."""

import logging

from autobahn.exception import Disconnected

from delivery import metrics
from delivery.fastpath.droplog import DropLog
from delivery.wire.consumers import ThreadConsumer
from delivery.wire.heartbeats import Heartbeats


def test_a_burst_of_drops_is_two_lines(caplog):
    log = DropLog(interval=60)
    with caplog.at_level(logging.WARNING):
        for i in range(500):
            log.add(thread_id=f"t{i % 7}", events=3, sockets=2)
        log.flush()
    lines = [r.getMessage() for r in caplog.records]

    assert len(lines) == 2
    assert "dropped 3 event(s)" in lines[0]
    assert "499 more message(s) (1497 event(s), 998 socket send(s), 7 thread(s))" in lines[1]


def test_a_quiet_interval_logs_nothing(caplog):
    with caplog.at_level(logging.WARNING):
        DropLog(interval=60).flush()
    assert caplog.records == []


async def _closed(message):
    """daphne's answer to a write on a socket whose close is under way."""
    raise Disconnected("Attempt to send on a closed protocol")


def _sample(counter) -> float:
    return counter._value.get()


async def test_a_live_event_for_a_socket_that_just_closed_is_counted(caplog):
    consumer = ThreadConsumer()
    consumer.base_send, consumer.session = _closed, _session()
    before = _sample(metrics.sends_after_close)
    frame = {"type": "event", "seq": 1, "id": "x", "event": "step", "payload": {}, "ts": ""}

    with caplog.at_level(logging.WARNING):
        await consumer.ledger_events({"type": "ledger.events", "events": [frame]})

    assert _sample(metrics.sends_after_close) == before + 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_ping_to_a_socket_that_just_closed_is_counted(caplog):
    class Closing:
        channel_name = "closing"

        async def beat(self, now):
            raise Disconnected("Attempt to send on a closed protocol")

    beats = Heartbeats()
    beats.slots[0].add(Closing())
    before = _sample(metrics.sends_after_close)

    with caplog.at_level(logging.WARNING):
        await beats._tick(beats.slots[0], 0.0)

    assert _sample(metrics.sends_after_close) == before + 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _session():
    import uuid

    from delivery.models import Thread
    from delivery.wire.pacing import SocketProgress
    from delivery.wire.revocation import Credential
    from delivery.wire.session import Session

    thread = Thread(id=uuid.uuid4())
    progress = SocketProgress(thread.id, uuid.uuid4(), acked=0)
    return Session(thread, uuid.uuid4(), progress, 1, Credential.token(uuid.uuid4()))
