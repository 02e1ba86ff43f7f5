"""The server stops mid-conversation: the page says Offline within the watchdog's bound, keeps
the message the user typed, comes back Live with the server, and posts that message once."""

import os
import signal

import pytest

from delivery.models import Event
from tests.chat.browser import (
    chromium_available,
    count,
    ledger_seqs,
    open_new_thread,
    render_log,
    send,
    shown_seqs,
    snap,
)
from tests.chat.conftest import STEP_DELAY
from tests.delivery.wsclient import db
from tests.processes import free_port, start_daphne, stop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.process,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium (make deps)"),
]
PINGS = {"LEDGERLINE_PING_INTERVAL": "1", "LEDGERLINE_PING_TIMEOUT": "2", **STEP_DELAY}
SILENCE_S = 3  # ping interval + ping timeout: the page's watchdog bound
MARGIN_S = 0.5  # the page's timers under a loaded host
WATCH_OFFLINE = """() => {
  const pill = document.getElementById("conn-status");
  const seen = () => {
    if (pill.dataset.status === "offline") window.firstOffline ??= performance.now();
  };
  new MutationObserver(seen).observe(pill, { attributes: true });
  window.frozenAt = performance.now();
}"""


class Server:
    """A daphne this test may freeze, kill and start again on the same port."""

    def __init__(self, logs) -> None:
        self.port, self.logs, self.starts = free_port(), logs, 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.process = start_daphne(self.port, self.logs / f"daphne-{self.starts}.log", **PINGS)

    def freeze(self) -> None:
        """Silent, as a hung host is: sockets stay open, nothing answers, nothing closes."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def outage_server(worker, tmp_path):
    server = Server(tmp_path)
    yield server
    os.kill(server.process.pid, signal.SIGCONT) if server.process.poll() is None else None
    stop(server.process)


@pytest.fixture
async def outage_page(outage_server, browser_context):
    context = await browser_context.new_context(
        base_url=outage_server.url, viewport={"width": 1280, "height": 800}
    )
    page = await context.new_page()
    page.set_default_timeout(15000)
    yield page


async def test_a_stopped_server_shows_offline_keeps_the_message_and_posts_it_once(
    outage_page, outage_server
):
    page = outage_page
    user = await open_new_thread(page)
    await page.wait_for_selector("#conn-status[data-status=live]")
    assert await page.get_attribute("#conversation", "data-silence-ms") == "3000"
    await send(page, "what is 12*7")
    await page.wait_for_selector(".run.done .answer:not([hidden])")
    await send(page, "what is 6*7")
    await page.wait_for_selector(".tool-card.running")  # mid-run: the worker goes on writing

    # The page's own clock stamps the first Offline, so the bound is measured, not polled for:
    # between tries the pill says Reconnecting for as long as a try may hang (the silence).
    await page.evaluate(WATCH_OFFLINE)
    outage_server.freeze()
    await page.wait_for_function("() => window.firstOffline !== undefined", timeout=15000)
    # The watchdog's bound, not the TCP's (minutes): the last frame came at most SILENCE_S
    # before the page gives up on the socket, and a silent socket goes straight to Offline.
    took = await page.evaluate("window.firstOffline - window.frozenAt") / 1000
    assert took <= SILENCE_S + MARGIN_S, f"Offline {took:.2f} s after the server froze"

    await page.fill("#composer textarea", "what is 2+2")
    await page.press("#composer textarea", "Enter")
    await page.wait_for_selector(
        "#composer-note[data-code=waiting]", timeout=(SILENCE_S + 5) * 1000
    )
    assert await page.input_value("#composer textarea") == "what is 2+2"
    await snap(page, "outage-offline")

    outage_server.kill()
    await page.wait_for_timeout(1000)
    assert await page.get_attribute("#conn-status", "data-status") in {"offline", "reconnecting"}
    outage_server.start()
    await page.wait_for_selector("#conn-status[data-status=live]", timeout=30000)
    await page.wait_for_function(
        "() => document.querySelectorAll('.run.done').length === 3", timeout=30000
    )
    assert await page.input_value("#composer textarea") == ""
    await page.wait_for_selector("#composer-note", state="hidden")  # the "not sent" note went
    assert await page.locator(".msg.user .bubble").all_inner_texts() == [
        "what is 12*7",
        "what is 6*7",
        "what is 2+2",
    ]
    await snap(page, "outage-back")

    assert await count(user, "user_message") == 3  # the retried message was posted once
    texts = await db(
        lambda: list(
            Event.objects.filter(thread__owner=user, type="user_message").values_list(
                "payload__text", flat=True
            )
        )
    )()
    assert sorted(texts) == ["what is 12*7", "what is 2+2", "what is 6*7"]
    assert await render_log(page) == await ledger_seqs(user)  # every event, once, in order
    seqs = await shown_seqs(page)
    assert len(seqs) == len(set(seqs))
    assert await page.locator(".run").count() == 3
