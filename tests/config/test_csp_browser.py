"""The Content-Security-Policy in Chromium, against a real daphne and Celery worker: the chat
page opens its WebSocket and renders an agent's answer, and the console's htmx swaps and polls,
with not one violation reported."""

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from tests.chat.browser import CHROMIUM, CHROMIUM_ARGS, chromium_available
from tests.console.conftest import staff
from tests.factories import UserFactory
from tests.processes import free_port, start_celery_worker, start_daphne, stop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.process,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium (make deps)"),
]
PASSWORD = "pw-for-tests-only"  # tests/factories.py
# Every violation the page sees, recorded before any of the page's own scripts run.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


class Watched:
    """A page whose CSP violations and console errors are kept for the test to assert on."""

    def __init__(self, page: Page):
        self.page, self.console_errors = page, []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.console_errors.append(message.text)

    def violations(self) -> list[str]:
        return self.page.evaluate("window.cspViolations")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    worker = start_celery_worker(tmp_path / "worker.log")
    daphne = start_daphne(port, tmp_path / "daphne.log")
    yield f"http://127.0.0.1:{port}"
    stop(daphne)
    stop(worker)


@pytest.fixture
def watched(server, monkeypatch):
    """A new page in Chromium, watched; the users are made before Playwright's loop starts."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=server).new_page()
        page.set_default_timeout(15_000)
        yield Watched(page)
        browser.close()
        connections.close_all()  # the ones opened while Playwright's loop was running


def log_in(page: Page, path: str, username: str) -> None:
    page.goto(path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_the_chat_page_talks_to_the_agent_without_a_violation(watched):
    user = UserFactory()
    page = watched.page
    log_in(page, "/", user.username)
    page.click("text=+ New conversation")
    expect(page.locator("#conn-status")).to_have_attribute("data-status", "live")  # ws: allowed
    page.fill("#composer textarea", "how does resume work?")
    page.press("#composer textarea", "Enter")
    page.wait_for_selector(".run.done .answer:not([hidden])")

    assert watched.violations() == []
    assert watched.console_errors == []
    # The watch itself works: an inline <style> added now is refused and reported.
    page.evaluate("document.head.append(Object.assign(document.createElement('style')))")
    page.wait_for_function("window.cspViolations.length > 0")
    assert watched.violations()[0].startswith("style-src")


def test_the_console_swaps_and_polls_without_a_violation(watched):
    staff("csp-support", "support")
    page = watched.page
    log_in(page, "/console/", "csp-support")
    expect(page.locator("h1")).to_have_text("Delivery overview")
    page.wait_for_function("window.htmx !== undefined")
    assert page.evaluate("document.querySelectorAll('style').length") == 0  # htmx injected none
    with page.expect_request(lambda r: "fp=" in r.url, timeout=8_000):
        pass  # the overview's 5 s poll, now without an hx-trigger filter

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true})"
    )
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "fp=" in r.url else None)
    page.wait_for_timeout(6_000)
    assert polls == []  # a hidden tab skips its polls (static/console/console.js)

    page.goto("/console/threads/")
    page.fill("#q", "nobody@example.test")
    page.press("#q", "Enter")  # an htmx swap of #results
    expect(page.locator("#results")).to_contain_text("nobody@example.test")
    assert watched.violations() == []
    assert watched.console_errors == []
