"""Test settings: the same real PostgreSQL and Redis as production, with fast timings."""

import os
import secrets

# The test run's own key, in the environment so the daphne and Celery processes tests start
# read the same one (they verify each other's signed tokens).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

from config.settings.base import *  # noqa: F403
from config.settings.base import CHANNEL_LAYERS, LEDGERLINE

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests share the machine's Redis: a per-run id keeps their channels and task queue apart.
# It is put in the environment, so the daphne and Celery processes a test starts share it.
TEST_RUN = os.environ.setdefault("LEDGERLINE_TEST_RUN", f"ledgerline-test-{os.getpid()}")
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = TEST_RUN  # type: ignore[index]
CACHES["default"]["KEY_PREFIX"] = TEST_RUN  # noqa: F405
# A test that starts its own worker (with its own PUBLIC_URL, say) gives it a queue of its own.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("LEDGERLINE_TEST_QUEUE", TEST_RUN)
CELERY_TASK_ALWAYS_EAGER = False
LEDGERLINE.update(
    {
        "ACK_FLUSH_INTERVAL": 0.05,
        "PING_INTERVAL": float(os.environ.get("LEDGERLINE_PING_INTERVAL", 5.0)),
        "PING_TIMEOUT": float(os.environ.get("LEDGERLINE_PING_TIMEOUT", 12.0)),
        "LONG_POLL_SECONDS": 2.0,
    }
)

# Browser tests reuse one user across a module: its messages would pass the per-minute budget,
# and a long run (a burst) would hold the next test's run back. The tests of budgets and
# fairness set their own.
LEDGERLINE["MESSAGES_PER_MINUTE"] = int(os.environ.get("LEDGERLINE_MESSAGES_PER_MINUTE", 1000))
LEDGERLINE_AGENT["RUNS_PER_USER"] = int(os.environ.get("LEDGERLINE_AGENT_RUNS_PER_USER", 8))  # noqa: F405

# pytest drops the test database at the end; a connection kept open by a consumer's
# database_sync_to_async thread would block that, so tests close connections after each use.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Subprocesses started by tests (daphne, emitters, workers) join the test database by name.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["TEST_DATABASE_NAME"]  # noqa: F405
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
