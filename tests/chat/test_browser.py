"""The chat page in a real browser, against real daphne and a real Celery worker."""

import pytest

from tests.chat.browser import (
    chromium_available,
    count,
    ledger_seqs,
    open_new_thread,
    render_log,
    screenshot,
    send,
    snap,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.process,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium (make deps)"),
]


async def test_user_asks_a_sum_and_sees_the_tool_card_and_the_answer(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 12*7")
    await page.wait_for_selector(".tool-card.running")
    await screenshot(page, "chat-during-run")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    assert await page.inner_text(".tool-card.done .tool-result") == "84"
    assert await page.inner_text(".answer") == "12*7 = 84"
    assert not await page.is_visible(".spinner")
    assert await page.inner_text("#conn-status") == "Live"
    await snap(page, "state-live")
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
    await page.wait_for_selector(".tool-card.running")
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
    assert await page.inner_text("#conn-status") == "Polling"
    await snap(page, "state-polling")
    await page.evaluate("window.unblockWebSocket = true")  # the socket is back: leave polling
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 3*3")
    await page.wait_for_function("() => document.querySelectorAll('.run.done').length === 2")
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
    await page.reload()  # the page opens on the burst's whole turn, its question included
    await page.wait_for_selector("#conn-status[data-status=live]")
    assert await page.inner_text(".msg.user .bubble") == "/burst 500"
    assert await page.locator(".burst-item").count() == 500


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
        " window.ledgerlineChat.client.postMessage('what is 2+3', 'resend-1')))"
    )
    await page.wait_for_function("() => document.querySelectorAll('.run.done').length === 2")
    assert await count(user, "user_message") == 2
    assert await count(user, "agent_started") == 2
    assert await page.locator(".msg.user").count() == 2


async def test_a_failed_run_clears_its_spinner_and_says_why(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "/fail")
    await page.wait_for_selector(".run.done.failed .failure:not([hidden])")
    assert "ToolCrashed" in await page.inner_text(".failure")
    # The tool that crashed says so, as the run does: not "interrupted".
    assert await page.text_content(".tool-card.failed .tool-state") == "failed"
    assert "interrupted" not in (await page.inner_text("#transcript")).lower()
    assert not await page.is_visible(".spinner")
    await screenshot(page, "chat-failed-run")


async def test_an_error_frame_is_said_beside_the_composer(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.evaluate("window.ledgerlineChat.client.socket.send('not json')")
    note = await page.wait_for_selector("#composer-note[data-code=bad_json]")
    assert (await note.inner_text()).startswith("The connection turned down")
    assert await page.get_attribute("#conn-status", "data-status") == "live"
