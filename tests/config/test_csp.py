"""The Content-Security-Policy: on every page, script and style from our own origin only, and
no template relying on anything the policy refuses (inline script or style, eval)."""

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.console.conftest import staff
from tests.factories import ThreadFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def pages() -> dict[str, tuple[Client, str]]:
    user, support = UserFactory(), staff("csp-support", "support")
    chat, console = Client(), Client()
    chat.force_login(user)
    console.force_login(support)
    thread = ThreadFactory(owner=user)
    return {
        "login": (Client(), "/accounts/login/"),
        "chat": (chat, f"/threads/{thread.pk}/"),
        "console": (console, "/console/"),
        "console threads": (console, "/console/threads/"),
    }


@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_script_or_eval():
    for name, (client, path) in pages().items():
        response = client.get(path)
        assert response.status_code == 200, name
        csp = policy(response)
        assert csp["script-src"] == ["'self'"], name
        assert csp["style-src"] == ["'self'"], name
        assert csp["connect-src"] == ["'self'"], name  # the page's own ws:/wss: too
        assert (csp["object-src"], csp["frame-ancestors"]) == (["'none'"], ["'none'"]), name
        assert (csp["base-uri"], csp["form-action"]) == (["'self'"], ["'self'"]), name
        header = response["Content-Security-Policy"]
        assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header, name


INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle=", re.I),
    "on* handler": re.compile(r"\son[a-z]+=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "hx-on (eval)": re.compile(r"\shx-on", re.I),
    "js: value (eval)": re.compile(r"hx-(vals|vars|headers)=['\"]\s*js:", re.I),
    "hx-trigger filter (eval)": re.compile(r"hx-trigger=\"[^\"]*\[", re.I),
}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_needs_what_the_policy_refuses(template):
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert found == []


def test_htmx_is_told_to_inject_no_style_and_evaluate_nothing():
    layout = (ROOT / "templates/console/layout.html").read_text()
    assert '"includeIndicatorStyles": false' in layout
    assert '"allowEval": false' in layout
    css = (ROOT / "static/css/console.css").read_text()
    assert ".htmx-request .htmx-indicator" in css  # the rules htmx no longer injects
