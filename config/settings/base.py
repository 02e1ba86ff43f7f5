"""Ledgerline settings, read from the environment (see README "Settings")."""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from delivery.schedule import delivery_beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# No key is ever committed. `make run` and `make test` make a random one once into
# .run/secret-key (config/embedded.py); anywhere else the environment must set it.
SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in .env (for example "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`); `make run` "
            "makes one for you in .run/secret-key. With DEBUG=1 a throwaway key is used."
        )
    SECRET_KEY = get_random_secret_key()
    print(
        "!! SECRET_KEY is unset: DEBUG uses a throwaway key for this process only; sessions "
        "and tokens die with it, and other processes cannot read them. !!",
        file=sys.stderr,
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Browser origins the WebSocket accepts ("https://chat.example.com", or a bare host for any
# scheme and port). "*" is refused: see delivery/wire/auth.py.
WS_ALLOWED_ORIGINS = env.list("WS_ALLOWED_ORIGINS", default=ALLOWED_HOSTS)
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "csp",
    "axes",
    "delivery",
    "monitoring",
    "console",
    "agent",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/postgres")
}
# Persistent connections: daphne runs every `database_sync_to_async` call on one thread, and
# with CONN_MAX_AGE=0 each call (an ack flush, a heartbeat, a connect) opened a new PostgreSQL
# connection. `?conn_max_age=` in DATABASE_URL overrides this; health checks replace a broken one.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=300))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No JIT compilation. The ledger's reads span every day partition of delivery_event, so their
# cost estimates pass jit_above_cost though they run in milliseconds: on PostgreSQL 15 with JIT
# on, the console's overview spent 1.1 s per request compiling 282 functions for a 30 ms query
# (docs/performance.md). `?options=` in DATABASE_URL overrides this.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The channel layer's Redis: REDIS_URLS="redis://a:6379/0,redis://b:6379/0" shards it with
# channels_redis's consistent hashing (a group lives on the shard its name hashes to, a daphne
# process's inbox on the shard its random client prefix hashes to). Every process must list
# the shards in the same order. Unset or empty, the layer is REDIS_URL alone. Celery keeps its
# own single URL (CELERY_BROKER_URL, REDIS_URL by default): tasks are not sharded.
REDIS_URLS = [url for url in env.list("REDIS_URLS", default=[]) if url] or [REDIS_URL]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "delivery.fastpath.layers.LedgerRedisChannelLayer",
        "CONFIG": {
            # redis-py 8 caps a pool at 100 connections and raises beyond that, so a burst of
            # handshakes (each a group_add) failed; a daphne process may need one per concurrent
            # layer call, per shard.
            "hosts": [
                {
                    "address": url,
                    "max_connections": env.int("CHANNELS_MAX_CONNECTIONS", default=2000),
                }
                for url in REDIS_URLS
            ],
            "prefix": env.str("CHANNELS_PREFIX", default="ledgerline"),
            # channels_redis defaults (capacity 100, expiry 60 s) are kept on purpose: the ledger,
            # not the layer, is the queue, and drops are detected and healed.
            "capacity": env.int("CHANNELS_CAPACITY", default=100),
            "expiry": env.int("CHANNELS_EXPIRY", default=60),
            # Live sockets re-join on every persisted heartbeat, so a channel whose process died
            # leaves its groups within this bound instead of reading as full for a day.
            "group_expiry": env.int("CHANNELS_GROUP_EXPIRY", default=120),
        },
    }
}

# Per-user budgets (delivery/ledger/budgets.py) and the agent's run slots count here, so every
# process of the deployment sees the same counts.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CHANNELS_PREFIX", default="ledgerline"),
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out username+IP before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# HTTPS, the Content-Security-Policy and login throttling (README "Security settings").
from config.settings.security import *  # noqa: E402, F403

# Delivery timings: every one has a default and an environment override (the README lists them).
LEDGERLINE = {
    "ACK_DEADLINE": env.float("LEDGERLINE_ACK_DEADLINE", default=8.0),
    # How often each daphne process writes what its sockets sent and what their clients acked:
    # one statement for every socket, so a busy thread pays one write per interval, not per event.
    "ACK_FLUSH_INTERVAL": env.float("LEDGERLINE_ACK_FLUSH_INTERVAL", default=0.5),
    "RECONCILE_INTERVAL": env.float("LEDGERLINE_RECONCILE_INTERVAL", default=2.0),
    "PING_INTERVAL": env.float("LEDGERLINE_PING_INTERVAL", default=5.0),
    "PING_TIMEOUT": env.float("LEDGERLINE_PING_TIMEOUT", default=12.0),
    "HEARTBEAT_PERSIST_INTERVAL": env.float("LEDGERLINE_HEARTBEAT_PERSIST_INTERVAL", default=10.0),
    "RUN_TIMEOUT": env.float("LEDGERLINE_RUN_TIMEOUT", default=180.0),
    "RETRY_BUDGET": env.int("LEDGERLINE_RETRY_BUDGET", default=5),
    # Days of the ledger kept: older daily partitions are dropped (delivery/ledger/retention.py);
    # 0 turns retention off. Partitions are made this many days ahead (ledger/partitions.py).
    "RETENTION_DAYS": env.int("LEDGERLINE_RETENTION_DAYS", default=30),
    "PARTITION_DAYS_AHEAD": env.int("LEDGERLINE_PARTITION_DAYS_AHEAD", default=7),
    "TOKEN_TTL": env.int("LEDGERLINE_TOKEN_TTL", default=30 * 24 * 3600),
    "MAX_FRAME_BYTES": env.int("LEDGERLINE_MAX_FRAME_BYTES", default=64 * 1024),
    "MAX_PAYLOAD_BYTES": env.int("LEDGERLINE_MAX_PAYLOAD_BYTES", default=256 * 1024),
    "RATE_LIMIT_PER_SECOND": env.float("LEDGERLINE_RATE_LIMIT_PER_SECOND", default=100.0),
    "RATE_LIMIT_BURST": env.int("LEDGERLINE_RATE_LIMIT_BURST", default=500),
    "LAYER_SEND_TIMEOUT": env.float("LEDGERLINE_LAYER_SEND_TIMEOUT", default=2.0),
    "BACKFILL_CHUNK": env.int("LEDGERLINE_BACKFILL_CHUNK", default=500),
    "LONG_POLL_SECONDS": env.float("LEDGERLINE_LONG_POLL_SECONDS", default=25.0),
    # Per-user budgets: messages a minute, and open sockets, across every transport.
    "MESSAGES_PER_MINUTE": env.int("LEDGERLINE_MESSAGES_PER_MINUTE", default=30),
    "SOCKETS_PER_USER": env.int("LEDGERLINE_SOCKETS_PER_USER", default=20),
    # POST /api/tokens: short-lived tokens for a frontend served from elsewhere.
    "SESSION_TOKEN_TTL": env.int("LEDGERLINE_SESSION_TOKEN_TTL", default=900),
    # JWT mode, off unless an algorithm is set: HS256 with a shared secret, or RS256 with the
    # identity provider's public key (PEM). `aud` must name the audience, `sub` a username.
    "JWT_ALGORITHM": env.str("LEDGERLINE_JWT_ALGORITHM", default=""),
    "JWT_KEY": env.str("LEDGERLINE_JWT_KEY", default="", multiline=True),
    "JWT_AUDIENCE": env.str("LEDGERLINE_JWT_AUDIENCE", default=""),
    "JWT_ISSUER": env.str("LEDGERLINE_JWT_ISSUER", default=""),
}
# Monitoring (monitoring/conf.py): the scheduled canary, and how long a verification check may take.
LEDGERLINE_MONITORING = {
    "CANARY_INTERVAL": env.float("LEDGERLINE_CANARY_INTERVAL", default=60.0),
    "CHECK_TIMEOUT": env.float("LEDGERLINE_CHECK_TIMEOUT", default=5.0),
}
# The demo agent (agent/conf.py): the pause between a run's steps, and the `/burst N` cap.
LEDGERLINE_AGENT = {
    "STEP_DELAY": env.float("LEDGERLINE_AGENT_STEP_DELAY", default=0.3),
    "BURST_MAX": env.int("LEDGERLINE_BURST_MAX", default=5000),
    # A user's agent runs beyond this wait for one to end, so no user holds every worker.
    "RUNS_PER_USER": env.int("LEDGERLINE_AGENT_RUNS_PER_USER", default=1),
}

# Monitoring (monitoring/): /metrics needs `Authorization: Bearer METRICS_TOKEN` when it is set,
# and answers loopback clients only when it is not. New alerts are POSTed to ALERT_WEBHOOK_URL.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
# Each POST is signed with HMAC-SHA256 under this secret (monitoring/webhook.py); none is
# committed, and a URL without a secret fails the system check.
ALERT_WEBHOOK_SECRET = env.str("ALERT_WEBHOOK_SECRET", default="")
# Where the canary connects when PUBLIC_URL is not reachable from inside (compose's worker).
CANARY_URL = env.str("CANARY_URL", default="")

# Celery beat: the reconciler, the canary and retention run on a schedule, never by hand.
CELERY_BEAT_SCHEDULE = {
    # The reconciler, retention and partitions (delivery/schedule.py).
    **delivery_beat_schedule(reconcile_every=LEDGERLINE["RECONCILE_INTERVAL"]),
    "canary": {
        "task": "monitoring.tasks.run_canary",
        "schedule": LEDGERLINE_MONITORING["CANARY_INTERVAL"],
        "options": {"expires": LEDGERLINE_MONITORING["CANARY_INTERVAL"]},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "delivery.wire.redaction.RedactTokensFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "daphne": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # django-axes: failed logins and lockouts (WARNING); not its banner or every success.
        "axes": {"level": "WARNING"},
    },
}
