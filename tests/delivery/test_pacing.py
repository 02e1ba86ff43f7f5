import asyncio
import uuid

from delivery import pacing


async def test_an_ack_arriving_during_a_flush_is_written_by_the_next_one(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    writes: list[tuple[int, int]] = []
    in_flight = asyncio.Event()

    async def slow_record_acks(acks):
        in_flight.set()
        await asyncio.sleep(0.1)  # a slow database write
        writes.extend((ack.above, ack.upto) for ack in acks)

    monkeypatch.setattr(pacing, "record_acks", slow_record_acks)
    batcher = pacing.AckBatcher(uuid.uuid4(), uuid.uuid4(), floor=0)
    batcher.add(100)
    await in_flight.wait()
    batcher.add(105)  # the last ack of a burst, while 100 is being written
    await asyncio.sleep(0.4)
    assert writes == [(0, 100), (100, 105)]
    assert batcher.recorded == 105


async def test_a_failed_flush_is_retried(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    calls: list[int] = []

    async def flaky_record_acks(acks):
        calls.extend(ack.upto for ack in acks)
        if len(calls) == 1:
            raise RuntimeError("database unavailable")

    monkeypatch.setattr(pacing, "record_acks", flaky_record_acks)
    batcher = pacing.AckBatcher(uuid.uuid4(), uuid.uuid4(), floor=0)
    batcher.add(7)
    await asyncio.sleep(0.2)
    assert calls == [7, 7] and batcher.recorded == 7


async def test_acks_of_many_sockets_are_written_in_one_statement(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    statements: list[list[int]] = []

    async def record_acks(acks):
        statements.append(sorted(ack.upto for ack in acks))

    monkeypatch.setattr(pacing, "record_acks", record_acks)
    batchers = [pacing.AckBatcher(uuid.uuid4(), uuid.uuid4(), floor=0) for _ in range(3)]
    for seq, batcher in enumerate(batchers, start=1):
        batcher.add(seq)
    await asyncio.sleep(0.1)
    assert statements == [[1, 2, 3]]
    assert [b.recorded for b in batchers] == [1, 2, 3]
