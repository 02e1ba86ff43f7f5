"""Benchmark settings (`make bench`): production code paths and timings, quiet logs.

Both systems under test share this module, so they share the channel layer's configuration.
`bench/stack.py` points DATABASE_URL at a throwaway database and REDIS_URL at a private
redis-server before Django starts.
"""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import CHANNEL_LAYERS, LEDGERLINE

# The plain-Channels baseline must lose nothing, or its throughput would count work never done;
# both systems get the same capacity so the comparison is like for like.
CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = int(  # type: ignore[index]
    os.environ.get("CHANNELS_CAPACITY", 100_000)
)
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# The bench drives one user's many sockets and messages: per-user budgets would cap the load.
LEDGERLINE["SOCKETS_PER_USER"] = 1_000_000
LEDGERLINE["MESSAGES_PER_MINUTE"] = 1_000_000
