"""daphne whose consumer cannot send events: the half-wired pipeline the canary must catch.

    python -m tests.monitoring.mute_daphne [daphne arguments...]

The socket opens, says hello and answers pings, but every event frame silently goes nowhere:
every attribute-level check passes while users would see nothing.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from config import serve  # noqa: E402
from delivery.wire.consumers import ThreadConsumer  # noqa: E402


async def _write_nothing(self, session, frames, trigger):
    return None


ThreadConsumer.write_frames = _write_nothing  # live, healed, resumed and redelivered events

if __name__ == "__main__":
    serve.main()
