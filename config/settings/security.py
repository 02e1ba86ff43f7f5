"""Ledgerline's web security settings, read from the environment: HTTPS (README "Deploying"),
the Content-Security-Policy and login throttling. docs/security.md has the threat model."""

from datetime import timedelta

import environ
from csp.constants import NONE, SELF

# base.py has already loaded .env into the environment.
env = environ.Env()

# HTTPS (README "Deploying"). Off by default: `make run` serves plain http on 127.0.0.1, where a
# secure-only cookie is never sent back and a redirect to https leads nowhere. HTTPS=1 turns the
# whole set on together; each variable below still overrides it on its own.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# Probes and scrapers inside the deployment call daphne directly over http; a redirect would
# read as a failed check, and protects nothing (the request has already been sent).
SECURE_REDIRECT_EXEMPT = [r"^healthz/", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
# Browsers then refuse plain http to this host for SECURE_HSTS_SECONDS, and nothing takes that
# back sooner: roll out with a short value (3600) first. Preload only states consent; a host
# enters browsers' lists when someone submits it to hstspreload.org.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# Behind a proxy that terminates TLS (deploy/nginx/ledgerline.conf) requests reach daphne as
# http, and the proxy's X-Forwarded-Proto says they were https. Trust it only behind a proxy
# that sets it on every request: without one, any client could send the header itself.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)

# Content-Security-Policy (django-csp): script and style from our own origin only, so markup an
# attacker manages to inject can neither run script nor restyle the page (CSS selectors can
# read attribute values such as the CSRF token). Hence no 'unsafe-inline' for style either:
# htmx's one inline <style> is switched off in templates/console/layout.html and its indicator
# rules live in static/css/console.css. No 'unsafe-eval': htmx's allowEval is off there too,
# so the console uses no hx-on, no js: values and no [filters] in hx-trigger.
# connect-src 'self' matches the page's own ws:/wss: origin (CSP Level 3: Chromium, Firefox,
# Safari 15.4+), which the chat's WebSocket needs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from
# one IP, that pair is refused for AXES_COOLOFF_MINUTES, even with the right password
# (templates/registration/lockout.html, HTTP 429). The pair, not the username alone, so a guesser
# cannot lock the real user out from everywhere. Operators lift locks with `manage.py axes_reset`.
# The IP is REMOTE_ADDR: behind nginx, daphne's --proxy-headers sets it from X-Forwarded-For.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True

# What base.py takes (its `import *`): the settings, not this module's helpers.
__all__ = [
    "AXES_COOLOFF_TIME", "AXES_FAILURE_LIMIT", "AXES_LOCKOUT_PARAMETERS", "AXES_LOCKOUT_TEMPLATE",
    "AXES_RESET_ON_SUCCESS", "CONTENT_SECURITY_POLICY", "CSRF_COOKIE_SECURE", "HTTPS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER", "SECURE_REDIRECT_EXEMPT", "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
]  # fmt: skip
