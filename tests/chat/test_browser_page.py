"""The page itself in a real browser: layout at 1280 and 390 px, contrast, the keyboard, the
screen reader's announcements, and markdown rendered once and safely, live and on reload."""

import re

import pytest

from delivery import emit
from delivery.models import Thread
from tests.chat.browser import (
    chromium_available,
    contrast_failures,
    open_new_thread,
    send,
    snap,
    ui_text,
)
from tests.delivery.wsclient import db

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.process,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium (make deps)"),
]

HOSTILE = (
    "Use `resume {after}` and:\n\n```py\nprint('<b>hi</b>')\n```\n\n"
    '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">\n'
    "[docs](https://example.com) [bad](javascript:window.pwned=3) **bold**"
)
LAYOUT_JS = """() => {
  const bar = document.querySelector(".topbar").getBoundingClientRect();
  const side = document.querySelector(".sidebar").getBoundingClientRect();
  const box = document.querySelector("#composer textarea").getBoundingClientRect();
  return {pageScroll: document.scrollingElement.scrollTop, barTop: bar.top, barBottom: bar.bottom,
    sideBottom: side.bottom, sideHeight: side.height, composerBottom: box.bottom,
    height: innerHeight, overflow: document.documentElement.scrollWidth - innerWidth};
}"""


async def test_layout_holds_at_1280_and_390_px_and_text_passes_contrast(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    for n in range(3):
        await send(page, f"what is {n}+1")
        await page.wait_for_function(
            f"() => document.querySelectorAll('.run.done').length === {n + 1}"
        )
    for width, height in [(1280, 800), (390, 844)]:
        await page.set_viewport_size({"width": width, "height": height})
        await page.wait_for_timeout(200)
        layout = await page.evaluate(LAYOUT_JS)
        assert layout["pageScroll"] == 0 and layout["barTop"] == 0  # the top bar stays put
        assert layout["overflow"] <= 0  # nothing wider than the screen
        assert layout["barBottom"] < layout["composerBottom"] <= layout["height"]
        if width == 1280:
            assert layout["sideBottom"] == layout["height"]  # the sidebar runs full height
        assert await contrast_failures(page) == []
    toggle = page.locator("#nav-toggle")  # at 390 px the conversations slide in
    assert not await page.is_visible(".sidebar .new-thread")
    await toggle.click()
    await page.wait_for_selector(".sidebar .new-thread", state="visible")
    assert await toggle.get_attribute("aria-expanded") == "true"
    await snap(page, "page-conversations-open")
    await page.keyboard.press("Escape")
    await page.wait_for_selector(".sidebar .new-thread", state="hidden")
    await toggle.click()
    await page.click("#nav-close")
    await page.wait_for_selector(".sidebar .new-thread", state="hidden")


async def test_enter_sends_shift_enter_adds_a_line_and_answers_are_announced(page):
    await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    box = "#composer textarea"
    await page.fill(box, "what is 2+2")
    await page.press(box, "Shift+Enter")
    await page.type(box, "thanks")
    assert await page.input_value(box) == "what is 2+2\nthanks"
    await page.press(box, "Enter")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    assert await page.inner_text(".msg.user .bubble") == "what is 2+2\nthanks"
    announcer = page.locator("#announcer")
    assert await announcer.get_attribute("aria-live") == "polite"
    await page.wait_for_function(
        "() => document.getElementById('announcer').textContent.startsWith('The agent answered')"
    )
    assert await page.locator("time").count() == 2  # the message and the answer
    assert re.fullmatch(r"\d\d:\d\d( [AP]M)?", await page.inner_text(".msg.user time"))


async def test_markdown_is_rendered_safely_and_the_same_live_and_on_reload(page):
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    thread = await db(lambda: Thread.objects.get(owner=user))()
    run = {"run_id": "md"}
    await db(emit)(thread, "agent_started", run)
    await db(emit)(thread, "agent_completed", {**run, "answer": HOSTILE})
    answer = page.locator(".run[data-run=md] .answer")
    await answer.locator("pre code").wait_for()
    live = await answer.inner_html()
    await snap(page, "page-markdown")
    await page.reload()
    await page.wait_for_selector("#conn-status[data-status=live]")
    assert await answer.inner_html() == live  # one renderer for both
    assert await page.evaluate("window.pwned") is None
    assert await answer.locator("script, img, [onerror]").count() == 0
    assert await answer.locator("code").first.inner_text() == "resume {after}"
    assert "print('<b>hi</b>')" in await answer.locator("pre code").inner_text()
    assert await answer.locator("strong").inner_text() == "bold"
    links = answer.locator("a")
    assert await links.count() == 1  # the javascript: link is not a link
    assert await links.get_attribute("href") == "https://example.com"
    assert await links.get_attribute("rel") == "noopener noreferrer"
    text = await ui_text(page)
    assert not re.search(r"ledger(?!line)|\bseq\b|#\d", text, re.IGNORECASE), text


async def test_the_login_page_after_a_failed_try_keeps_the_name_and_reads_well(page):
    await page.goto("/")
    await page.fill("#id_username", "someone")
    await page.fill("#id_password", "not the password")
    await page.click("button[type=submit]")
    await page.wait_for_selector(".errornote, .error, [role=alert]")
    assert await page.input_value("#id_username") == "someone"
    await snap(page, "login-failed")  # contrast checked at both widths
