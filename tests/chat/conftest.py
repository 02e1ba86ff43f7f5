"""Real servers for the chat's browser tests: daphne plus a worker whose agent pauses between
steps, so a test can act mid-run, and a Playwright page on Debian's chromium."""

import pytest
from django.conf import settings

from tests.chat.browser import CHROMIUM, CHROMIUM_ARGS
from tests.processes import free_port, start_celery_worker, start_daphne, stop

# A queue of their own: the session's worker (no pauses) must not answer these messages, or
# a run would finish before a test could see it mid-way.
STEP_DELAY = {
    "LEDGERLINE_AGENT_STEP_DELAY": "0.8",
    "LEDGERLINE_TEST_QUEUE": f"{settings.TEST_RUN}-chat",
}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    process = start_celery_worker(
        tmp_path_factory.mktemp("chat-worker") / "worker.log", **STEP_DELAY
    )
    yield process
    stop(process)


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    port = free_port()
    daphne = start_daphne(port, tmp_path_factory.mktemp("chat-daphne") / "daphne.log", **STEP_DELAY)
    yield f"http://127.0.0.1:{port}"
    stop(daphne)


@pytest.fixture
async def browser_context():
    # The async API: the sync one runs its own loop, which pytest-asyncio's fixtures forbid.
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(server, browser_context):
    context = await browser_context.new_context(
        base_url=server, viewport={"width": 1280, "height": 800}
    )
    page = await context.new_page()
    page.set_default_timeout(15000)
    yield page
