"""Run as the agent's own process by the Redis outage test: emit events, report what it saw.

Prints one JSON line: the events' seqs and this process's websocket_events_failed_total.
Any exception from emit propagates and fails the process (the agent would have seen it).
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from delivery import emit, metrics  # noqa: E402
from delivery.fastpath.publisher import publisher  # noqa: E402

thread_id, count = sys.argv[1], int(sys.argv[2])
seqs = [emit(thread_id, "step", {"i": i}).seq for i in range(count)]
publisher.wait_idle()  # the fast path runs after emit returns
failed = metrics.events_failed.labels(cause="fast_path")._value.get()
print(json.dumps({"seqs": seqs, "failed": failed}), flush=True)
