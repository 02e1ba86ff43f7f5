"""The agent side of a benchmark run, in its own process: `python -m bench.emitter` reads a JSON
spec on stdin, prints `ready`, waits for a `go` line, emits, then prints a JSON result line.

Ledgerline: `emit` / `emit_many` from `workers` OS threads, as sync agent code (a Celery task)
calls them. Baseline: `group_send` from `workers` asyncio tasks on one persistent loop, the
fastest way plain Channels code can send. Both send the same frames: same event type, same
payload size, one event per message or `batch` events per message.

Spec: system ("ledger" | "plain"), threads (ids), events (total), batch, workers,
rate (events/s; null = as fast as possible), payload_bytes.
Result: {"started": t, "finished": t, "calls": [seconds per emit/group_send call]}.
"""

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def payload(i: int, size: int, scheduled: float) -> dict[str, Any]:
    # `t` is when the event was due, not when the call began: a late call counts as latency.
    return {"t": scheduled, "i": i, "text": "x" * size}


class Schedule:
    """Event i of the run is due at start + i / rate (or at once when rate is None)."""

    def __init__(self, spec: dict[str, Any], start: float) -> None:
        self.start, self.rate, self.batch = start, spec["rate"], spec["batch"]
        self.threads, self.size = spec["threads"], spec["payload_bytes"]

    def due(self, call: int) -> float:
        return self.start + call * self.batch / self.rate if self.rate else time.time()

    def wait(self, call: int) -> float:
        due = self.due(call)
        time.sleep(max(0.0, due - time.time()))
        return due

    async def await_due(self, call: int) -> float:
        due = self.due(call)
        await asyncio.sleep(max(0.0, due - time.time()))
        return due

    def thread(self, call: int) -> str:
        return self.threads[call % len(self.threads)]


def calls_of(worker: int, spec: dict[str, Any]) -> range:
    total = spec["events"] // spec["batch"]
    return range(worker, total, spec["workers"])


def run_ledger(spec: dict[str, Any], start: float) -> list[float]:
    from django.db import connection

    from delivery import emit, emit_many
    from delivery.fastpath.publisher import publisher

    schedule, samples, lock = Schedule(spec, start), [], threading.Lock()

    def work(worker: int) -> None:
        mine = []
        for call in calls_of(worker, spec):
            due = schedule.wait(call)
            items = [("agent_step", payload(call, schedule.size, due))] * spec["batch"]
            began = time.perf_counter()
            if spec["batch"] == 1:
                emit(schedule.thread(call), *items[0])
            else:
                emit_many(schedule.thread(call), items)
            mine.append(time.perf_counter() - began)
        connection.close()
        with lock:
            samples.extend(mine)

    run_threads(spec["workers"], work)
    emitted = time.time()
    publisher.wait_idle(60)
    drained = time.time() - emitted
    print(f"publisher: {publisher.rounds} rounds for {publisher.batches} emits; queue drained "
          f"{drained:.2f}s after the last emit", file=sys.stderr)  # fmt: skip
    return samples


def run_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(w,)) for w in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_plain(spec: dict[str, Any], start: float) -> list[float]:
    from channels.layers import get_channel_layer

    from bench.plain_app import plain_group, plain_message

    layer, schedule = get_channel_layer(), Schedule(spec, start)
    seqs: dict[str, int] = {}

    def frames(call: int, due: float, thread: str) -> list[dict[str, Any]]:
        out = []
        for _ in range(spec["batch"]):
            seqs[thread] = seqs.get(thread, 0) + 1
            out.append({"type": "event", "seq": seqs[thread], "id": str(uuid.uuid4()),
                        "event": "agent_step", "payload": payload(call, schedule.size, due),
                        "ts": datetime.now(UTC).isoformat(), "replay": False})  # fmt: skip
        return out

    async def work(worker: int, samples: list[float]) -> None:
        for call in calls_of(worker, spec):
            due = await schedule.await_due(call)
            thread = schedule.thread(call)
            message = plain_message(frames(call, due, thread))
            began = time.perf_counter()
            await layer.group_send(plain_group(thread), message)  # type: ignore[union-attr]
            samples.append(time.perf_counter() - began)

    async def main() -> list[float]:
        samples: list[float] = []
        await asyncio.gather(*(work(w, samples) for w in range(spec["workers"])))
        return samples

    return asyncio.run(main())


def main() -> None:
    import django

    spec = json.loads(sys.stdin.readline())
    django.setup()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    start, cpu = time.time(), time.process_time()
    run = run_ledger if spec["system"] == "ledger" else run_plain
    calls = run(spec, start)
    result = {"started": start, "finished": time.time(), "calls": calls,
              "cpu": time.process_time() - cpu}  # fmt: skip
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
