import asyncio
import uuid

from delivery import pacing


async def test_an_ack_arriving_during_a_flush_is_written_by_the_next_one(monkeypatch, settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "ACK_FLUSH_INTERVAL": 0.01}
    writes: list[tuple[int, int]] = []
    in_flight = asyncio.Event()

    async def slow_record_ack(*, thread_id, upto, above, connection_id, at):
        in_flight.set()
        await asyncio.sleep(0.1)  # a slow database write
        writes.append((above, upto))

    monkeypatch.setattr(pacing, "record_ack", slow_record_ack)
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

    async def flaky_record_ack(*, thread_id, upto, above, connection_id, at):
        calls.append(upto)
        if len(calls) == 1:
            raise RuntimeError("database unavailable")

    monkeypatch.setattr(pacing, "record_ack", flaky_record_ack)
    batcher = pacing.AckBatcher(uuid.uuid4(), uuid.uuid4(), floor=0)
    batcher.add(7)
    await asyncio.sleep(0.2)
    assert calls == [7, 7] and batcher.recorded == 7
