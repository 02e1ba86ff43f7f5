"""`manage.py check --deploy` is clean with the command README "Deploying" documents, and the
HTTPS settings stay off for `make run`'s plain http unless the environment turns them on."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
# Everything that could turn a secure setting on or off, so the machine's environment does not.
OURS = {
    "HTTPS", "DEBUG", "SECRET_KEY", "BEHIND_TLS_PROXY", "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "ALERT_WEBHOOK_URL",
}  # fmt: skip
HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in OURS}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.base",
             "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "0", **env},
        check=False,
    )  # fmt: skip


def check_deploy(**env: str) -> tuple[int, set[str]]:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)
    return result.returncode, set(re.findall(r"\(([a-z_]+\.[WE]\d+)\)", result.stderr))


def resolved(**env: str) -> dict:
    names = [
        "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
    ]  # fmt: skip
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = run(["-c", code], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_documented_command_passes_check_deploy_without_a_warning():
    """README: HTTPS=1 SECRET_KEY=... DEBUG=0 .venv/bin/python manage.py check --deploy"""
    assert check_deploy(HTTPS="1") == (0, set())


def test_without_https_the_deploy_check_fails_on_each_https_warning():
    code, found = check_deploy()
    assert code != 0
    assert found == HTTPS_WARNINGS


def test_one_variable_overrides_the_https_switch():
    code, found = check_deploy(HTTPS="1", SESSION_COOKIE_SECURE="0")
    assert (code != 0, found) == (True, {"security.W012"})


def test_plain_http_by_default_for_make_run():
    assert resolved() == {
        "SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }  # fmt: skip


def test_https_behind_a_tls_proxy_trusts_its_forwarded_proto():
    assert resolved(HTTPS="1", BEHIND_TLS_PROXY="1", SECURE_HSTS_SECONDS="3600") == {
        "SECURE_SSL_REDIRECT": True, "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }  # fmt: skip


@pytest.mark.django_db
def test_https_redirects_pages_but_not_probes_and_trusts_the_proxy(settings):
    """What HTTPS=1 BEHIND_TLS_PROXY=1 resolves to (above), on real requests."""
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()

    plain = client.get("/accounts/login/")
    probe = client.get("/healthz/live")
    proxied = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})

    assert (plain.status_code, plain["Location"]) == (301, "https://testserver/accounts/login/")
    assert probe.status_code == 200  # SECURE_REDIRECT_EXEMPT: probes inside the deployment
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"].startswith("max-age=3600")
