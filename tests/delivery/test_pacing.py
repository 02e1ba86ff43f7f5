import asyncio
import uuid

from delivery.models import Trigger
from delivery.wire import pacing


def socket() -> pacing.SocketProgress:
    return pacing.SocketProgress(uuid.uuid4(), uuid.uuid4(), acked=0)


async def test_an_ack_arriving_during_a_flush_is_written_by_the_next_one(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    writes: list[int] = []
    in_flight = asyncio.Event()

    async def slow_record_progress(records):
        in_flight.set()
        await asyncio.sleep(0.1)  # a slow database write
        writes.extend(record.acked_seq for record in records)

    monkeypatch.setattr(pacing, "record_progress", slow_record_progress)
    progress = socket()
    progress.ack(100)
    await in_flight.wait()
    progress.ack(105)  # the last ack of a burst, while 100 is being written
    await asyncio.sleep(0.4)
    assert writes == [100, 105]
    assert progress.recorded_ack == 105


async def test_a_failed_flush_is_retried_with_its_send_ranges(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    calls: list[tuple[int, list[tuple[int, int]]]] = []

    async def flaky_record_progress(records):
        calls.extend((r.acked_seq, [(s.first, s.last) for s in r.sent]) for r in records)
        if len(calls) == 1:
            raise RuntimeError("database unavailable")

    monkeypatch.setattr(pacing, "record_progress", flaky_record_progress)
    progress = socket()
    progress.wrote(Trigger.LIVE, 1, 7)
    progress.ack(7)
    await asyncio.sleep(0.2)
    assert calls == [(7, [(1, 7)]), (7, [(1, 7)])]
    assert (progress.recorded_ack, progress.recorded_sent) == (7, 7)


async def test_progress_of_many_sockets_is_written_in_one_statement(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    statements: list[list[int]] = []

    async def record_progress(records):
        statements.append(sorted(record.acked_seq for record in records))

    monkeypatch.setattr(pacing, "record_progress", record_progress)
    sockets = [socket() for _ in range(3)]
    for seq, progress in enumerate(sockets, start=1):
        progress.ack(seq)
    await asyncio.sleep(0.1)
    assert statements == [[1, 2, 3]]
    assert [p.recorded_ack for p in sockets] == [1, 2, 3]


async def test_ranges_split_on_a_new_trigger_or_a_jump(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 10}
    progress = socket()
    for seq in (1, 2, 3):
        progress.wrote(Trigger.LIVE, seq, seq)
    progress.wrote(Trigger.HEAL, 4, 6)
    progress.wrote(Trigger.HEAL, 7, 7)
    progress.wrote(Trigger.RETRY, 2, 3)
    record = progress.take()
    assert record is not None
    assert [(s.trigger, s.first, s.last) for s in record.sent] == [
        ("live", 1, 3),
        ("heal", 4, 7),
        ("retry", 2, 3),
    ]
    assert record.sent_seq == 7
    pacing.progress_writer().task.cancel()
