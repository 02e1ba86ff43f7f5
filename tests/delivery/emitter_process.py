"""Run as a separate OS process by the concurrency test: emits into one thread."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from delivery import emit, emit_many  # noqa: E402

thread_id, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    if i % 4 == 0:
        emit_many(thread_id, [("burst", {"w": worker, "i": i}), ("burst", {"w": worker, "i": i})])
    else:
        emit(thread_id, "step", {"w": worker, "i": i})
