"""Each connection state the chat page can be in, as a person sees it, at 1280 and 390 px
(`artifacts/state-*.png`), against real daphne and a real worker."""

import re
import time

import pytest
from playwright.async_api import expect

from delivery import emit, emit_many
from delivery.ledger.retention import prune_ledger
from delivery.models import Thread
from tests.chat.browser import (
    SocketGate,
    chromium_available,
    count,
    ledger_seqs,
    open_new_thread,
    open_thread,
    render_log,
    send,
    shown_seqs,
    snap,
    ui_text,
)
from tests.delivery.retention_ledger import cutoff, ledger
from tests.delivery.wsclient import db
from tests.factories import ThreadFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.process,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium (make deps)"),
]


async def status(page) -> str:
    return await page.get_attribute("#conn-status", "data-status")


async def test_reconnecting_then_catching_up_then_live_renders_everything_once(page):
    gate = SocketGate()
    await gate.install(page)
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 12*7")
    await page.wait_for_selector(".run.done .answer:not([hidden])")

    gate.hang = True  # the next socket opens and never says hello
    await page.evaluate("window.ledgerlineChat.client.socket.close()")
    await page.wait_for_selector("#conn-status[data-status=reconnecting]")
    assert await page.inner_text("#conn-status") == "Reconnecting…"
    await snap(page, "state-reconnecting")

    thread = await db(lambda: Thread.objects.get(owner=user))()
    run = {"run_id": "catch-up"}
    burst = [("burst", {**run, "i": i, "of": 400}) for i in range(1, 401)]
    await db(emit_many)(thread, burst)  # written while the page was away
    await db(emit)(thread, "agent_completed", {**run, "answer": "Sent **400** events."})

    gate.hang, gate.hold_after = False, 30  # the resume starts, and its tail is held back
    await page.evaluate("window.ledgerlineChat.client.socket.close()")
    await page.wait_for_selector("#conn-status[data-status=catching_up]")
    assert await page.inner_text("#conn-status") == "Catching up…"
    await snap(page, "state-catching-up")
    gate.release()
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.wait_for_selector(".run[data-run=catch-up] .answer strong")
    assert await render_log(page) == await ledger_seqs(user)
    seqs = await shown_seqs(page)
    assert len(seqs) == len(set(seqs))


async def test_offline_counts_down_and_comes_back(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.context.set_offline(True)  # the browser's offline event
    await page.wait_for_selector("#conn-status[data-status=offline]")
    assert re.fullmatch(r"Offline — retrying (in \d+ s|now)", await page.inner_text("#conn-status"))
    await page.fill("#composer textarea", "are you there?")
    await page.press("#composer textarea", "Enter")
    await page.wait_for_selector("#composer-note[data-code=waiting]")
    assert (
        await page.inner_text("#composer-note")
        == "Not sent — retrying when the connection returns."
    )
    await snap(page, "state-offline")
    await page.context.set_offline(False)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.wait_for_selector(".msg.user:not(.pending) .bubble >> text=are you there?")
    # The box empties when the POST's answer confirms the message; the socket's echo of it may
    # render the bubble a moment before that answer arrives.
    await expect(page.locator("#composer textarea")).to_have_value("")
    assert await page.inner_text("#composer-note") == ""


async def test_polling_is_said_only_while_polls_work(page):
    await open_new_thread(page, block_websocket=True)
    await page.wait_for_selector("#conn-status[data-status=polling]")
    await page.route("**/api/threads/*/events*", lambda route: route.abort())
    await page.wait_for_selector("#conn-status[data-status=offline]", timeout=30000)
    assert "polling" in await page.evaluate("window.ledgerlineChat.statusLog")
    await page.unroute("**/api/threads/*/events*")
    await page.wait_for_selector("#conn-status[data-status=polling]", timeout=30000)


async def test_past_retention_says_older_messages_are_gone(page):
    user = await db(UserFactory)()
    thread = await db(ThreadFactory)(owner=user, title="")
    await db(ledger)(thread, "aaaa")  # four events from 40 days ago
    await db(prune_ledger)(older_than=cutoff())
    await open_thread(page, user, thread)
    note = page.locator(".history-edge .pruned-note")
    assert await note.inner_text() == "Some older messages are no longer available."
    await send(page, "what is 6*7")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    await snap(page, "state-past-retention")
    text = await ui_text(page)
    assert not re.search(r"ledger(?!line)|\bseq\b|#\d", text, re.IGNORECASE), text


async def test_a_long_history_opens_on_its_newest_turn_and_loads_earlier(page):
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await send(page, "what is 12*7")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    await send(page, "/burst 500")
    await page.wait_for_function("() => document.querySelectorAll('.run.done').length === 2")
    await page.reload()
    await page.wait_for_selector("#conn-status[data-status=live]")
    assert await page.locator(".msg.user .bubble").all_inner_texts() == ["/burst 500"]
    assert await page.inner_text("#thread-heading") == "what is 12*7"
    await page.wait_for_selector(".load-earlier:visible")
    await snap(page, "state-load-earlier")
    first = int(await page.get_attribute("#conversation", "data-first-seq"))

    await page.click(".load-earlier")
    await page.wait_for_selector(".history-edge .start-note:visible")
    bubbles = await page.locator(".msg.user .bubble").all_inner_texts()
    assert bubbles == ["what is 12*7", "/burst 500"]
    seqs = await shown_seqs(page)
    assert len(seqs) == len(set(seqs)) and min(seqs) == 1
    assert await page.evaluate("window.ledgerlineChat.history.log") == list(range(1, first))
    await snap(page, "state-load-earlier-done")
    assert await count(user, "user_message") == 2

    # And the same by scrolling up, without the button: on a phone, where the newest turn
    # alone is taller than the screen.
    await page.set_viewport_size({"width": 390, "height": 420})
    await page.reload()
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.wait_for_selector(".load-earlier", state="attached")
    scrollable = "(s => s.scrollHeight - s.clientHeight)(document.getElementById('scroller'))"
    assert await page.evaluate(scrollable) > 240  # the page loads more when 240 px from the top
    await page.wait_for_function("document.getElementById('scroller').scrollTop > 240")
    await page.mouse.move(195, 250)
    for _ in range(30):  # a reader's wheel, not a script setting scrollTop
        await page.mouse.wheel(0, -200)
        await page.wait_for_timeout(30)
    await page.wait_for_selector(".history-edge .start-note:visible")
    assert await page.locator(".msg.user .bubble").all_inner_texts() == bubbles
    assert await shown_seqs(page) == seqs


async def test_signed_out_says_so_with_a_link_and_does_not_reconnect(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    await page.evaluate(
        """() => fetch("/accounts/logout/", {method: "POST", credentials: "same-origin",
            headers: {"X-CSRFToken": document.getElementById("conversation").dataset.csrf}})"""
    )
    await page.wait_for_selector("#conn-status[data-status=signed_out]")
    link = page.locator("#composer-note a")
    assert await link.inner_text() == "sign in again"
    assert (await link.get_attribute("href")).startswith("/accounts/login/?next=%2Fthreads%2F")
    await snap(page, "state-signed-out")
    await page.wait_for_timeout(2000)
    log = await page.evaluate("window.ledgerlineChat.statusLog")
    assert log[-1] == "signed_out" and "reconnecting" not in log


async def test_over_the_budget_the_page_says_when_and_sends_then(page):
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    refused = []

    async def budget(route):
        if not refused:
            refused.append(time.monotonic())
            body = '{"error": "rate_limited", "detail": "over the limit"}'
            await route.fulfill(status=429, headers={"Retry-After": "3"}, body=body)
        else:
            refused.append(time.monotonic())
            await route.continue_()

    await page.route("**/api/threads/*/messages", budget)
    await send(page, "what is 1+1")
    await page.wait_for_selector("#composer-note[data-code=slowed]")
    assert (await page.inner_text("#composer-note")).startswith(
        "Slow down — you can send again in "
    )
    await snap(page, "state-rate-limited")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    assert refused[1] - refused[0] >= 2.9  # not sooner than Retry-After
    assert await count(user, "user_message") == 1
