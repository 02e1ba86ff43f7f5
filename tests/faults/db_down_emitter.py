"""Run by the PostgreSQL scenario with DATABASE_URL at a closed port: what does `emit` do?

Prints one JSON line: the exception class and code that `emit` raised (or none).
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from delivery import emit  # noqa: E402

try:
    emit(sys.argv[1], "step", {"during": "outage"})
    print(json.dumps({"raised": None}), flush=True)
except Exception as exc:  # the point is to report whatever it was
    print(json.dumps({"raised": type(exc).__name__, "code": getattr(exc, "code", None)}))
