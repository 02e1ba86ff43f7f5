"""A small Django project that installs Ledgerline's delivery core and nothing else of it.

Everything delivery needs is here: the app, Channels, its channel layer, PostgreSQL, and the
ASGI routing in asgi.py. Its settings (`LEDGERLINE`) are left out on purpose: the defaults
apply, and a system check would name any key set wrong.
"""

import os

import environ
from django.core.management.utils import get_random_secret_key

env = environ.Env()

SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "minimal_project.urls"
ASGI_APPLICATION = "minimal_project.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "delivery",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/postgres")
}
DATABASES["default"]["TEST"] = {"NAME": "test_ledgerline_minimal_project"}
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"  # docs/integrate.md

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        # Reports what each group send did, including channels_redis's silent drops.
        "BACKEND": "delivery.fastpath.layers.LedgerRedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"minimal-{os.getpid()}"},
    }
}
