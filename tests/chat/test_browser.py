"""The chat page in a real browser, against real daphne and a real Celery worker."""

import pytest

from delivery.models import Event
from tests.chat.browser import (
    BLOCK_WEBSOCKET,
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium_available,
    screenshot,
)
from tests.delivery.wsclient import db
from tests.factories import UserFactory
from tests.processes import free_port, start_celery_worker, start_daphne, stop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.process,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium (make deps)"),
]
PASSWORD = "pw-for-tests-only"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne plus a worker whose agent pauses between steps, so a test can act mid-run."""
    logs = tmp_path_factory.mktemp("chat-servers")
    env = {"LEDGERLINE_AGENT_STEP_DELAY": "0.8"}
    port = free_port()
    worker = start_celery_worker(logs / "worker.log", **env)
    daphne = start_daphne(port, logs / "daphne.log", **env)
    yield f"http://127.0.0.1:{port}"
    stop(daphne)
    stop(worker)


@pytest.fixture
async def page(server):
    # The async API: the sync one runs its own loop, which pytest-asyncio's fixtures forbid.
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            base_url=server, viewport={"width": 1200, "height": 820}
        )
        page = await context.new_page()
        page.set_default_timeout(15000)
        yield page
        await browser.close()


async def open_new_thread(page, *, block_websocket: bool = False):
    user = await db(UserFactory)(password=PASSWORD)
    if block_websocket:
        await page.add_init_script(BLOCK_WEBSOCKET)
    await page.goto("/")
    await page.fill("#id_username", user.username)
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(".chat-layout")
    if not block_websocket:
        await screenshot(page, "chat-home")
    await page.click("text=+ New conversation")
    await page.wait_for_selector("#conversation")
    return user


async def send(page, text: str) -> None:
    await page.fill("#composer textarea", text)
    await page.press("#composer textarea", "Enter")


async def render_log(page) -> list[int]:
    return await page.evaluate("window.ledgerlineChat.client.renderLog")


async def ledger_seqs(user) -> list[int]:
    return await db(
        lambda: list(
            Event.objects.filter(thread__owner=user).order_by("seq").values_list("seq", flat=True)
        )
    )()


async def count(user, type: str) -> int:
    return await db(lambda: Event.objects.filter(thread__owner=user, type=type).count())()


async def test_user_asks_a_sum_and_sees_the_tool_card_and_the_answer(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 12*7")
    await page.wait_for_selector(".tool-card.executing")
    await screenshot(page, "chat-during-run")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    assert await page.inner_text(".tool-card.completed .tool-result") == "84"
    assert await page.inner_text(".answer") == "12*7 = 84"
    assert not await page.is_visible(".spinner")
    await screenshot(page, "chat-after-run")
    stored = "Object.entries(localStorage).filter(([k]) => k.startsWith('ledgerline:rendered:'))"
    assert [value for _, value in await page.evaluate(stored)] == ["6"]
    await page.reload()  # the ledger's history is rendered by the server, nothing twice
    await page.wait_for_selector("#conn-status[data-status=live]")
    assert await page.locator(".run.done .answer").count() == 1
    assert await render_log(page) == []


async def test_killing_the_socket_mid_run_reconnects_and_renders_every_event_once(page):
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 6*7")
    await page.wait_for_selector(".tool-card.executing")
    await page.evaluate("window.ledgerlineChat.client.socket.close()")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    await page.wait_for_selector("#conn-status[data-status=live]")
    assert "reconnecting" in await page.evaluate("window.ledgerlineChat.statusLog")
    assert await render_log(page) == await ledger_seqs(user) == [1, 2, 3, 4, 5, 6]
    assert await page.locator(".msg.user").count() == 1
    assert await page.locator(".tool-card").count() == 1
    assert await page.inner_text(".answer") == "6*7 = 42"


async def test_with_websocket_blocked_the_page_polls_the_whole_run_then_returns_to_it(page):
    user = await open_new_thread(page, block_websocket=True)
    await page.wait_for_selector("#conn-status[data-status=polling]")
    await send(page, "what is 2**10")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    assert await page.inner_text(".answer") == "2**10 = 1024"
    assert await render_log(page) == await ledger_seqs(user) == [1, 2, 3, 4, 5, 6]
    assert await page.inner_text("#conn-status") == "Polling (fallback)"
    await screenshot(page, "chat-polling")
    await page.evaluate("window.unblockWebSocket = true")  # the socket is back: leave polling
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 3*3")
    await page.wait_for_function("document.querySelectorAll('.run.done').length === 2")
    assert await render_log(page) == await ledger_seqs(user) == list(range(1, 13))


async def test_a_burst_of_500_renders_every_event_once(page):
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "/burst 500")
    await page.wait_for_selector(".run.done .answer:not([hidden])", timeout=30000)
    seqs = await page.eval_on_selector_all(".burst-item", "cells => cells.map(c => +c.dataset.seq)")
    assert len(seqs) == len(set(seqs)) == 500
    assert await page.inner_text(".burst-count") == "500"
    assert await render_log(page) == await ledger_seqs(user)
    await screenshot(page, "chat-burst")


async def test_a_double_submit_or_resend_posts_one_message_and_starts_one_run(page):
    user = await open_new_thread(page)
    await page.fill("#composer textarea", "what is 1+1")
    await page.evaluate(
        "() => { const f = document.getElementById('composer');"
        " f.requestSubmit(); f.requestSubmit(); }"
    )
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    assert await count(user, "user_message") == 1
    assert await count(user, "agent_started") == 1
    # A resend with the same client_id, even concurrent, is the same message and the same run.
    await page.evaluate(
        "() => Promise.all([1, 2].map(() =>"
        " window.ledgerlineChat.client.sendMessage('what is 2+3', 'resend-1')))"
    )
    await page.wait_for_function("document.querySelectorAll('.run.done').length === 2")
    assert await count(user, "user_message") == 2
    assert await count(user, "agent_started") == 2
    assert await page.locator(".msg.user").count() == 2


async def test_a_failed_run_clears_its_spinner_and_says_why(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "/fail")
    await page.wait_for_selector(".run.done.failed .failure:not([hidden])")
    assert "ToolCrashed" in await page.inner_text(".failure")
    assert await page.text_content(".tool-card.interrupted .tool-state") == "interrupted"
    assert not await page.is_visible(".spinner")
    await screenshot(page, "chat-failed-run")


async def test_an_error_frame_is_shown_on_the_page(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.evaluate("window.ledgerlineChat.client.socket.send('not json')")
    notice = await page.wait_for_selector(".notice.error")
    assert (await notice.inner_text()).startswith("bad_json:")
    assert await page.get_attribute("#conn-status", "data-status") == "live"
