"""Run as its own OS process by the concurrency test: a reconciler sweeping on a short loop.

    python -m tests.delivery.reconciler_process SECONDS

Prints one JSON line: the summed reports and this process's silent-failure count.
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from delivery import metrics  # noqa: E402
from delivery.repair.reconcile import reconcile  # noqa: E402

totals = {"retried": 0, "undelivered": 0, "pending_sent": 0}
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    report = reconcile()
    for key in totals:
        totals[key] += getattr(report, key)
    time.sleep(0.02)
totals["silent_failures"] = metrics.silent_failures.labels(kind="unacked")._value.get()
print(json.dumps(totals), flush=True)
