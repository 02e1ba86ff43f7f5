"""Playwright against Debian's chromium, and the real servers a browser test talks to."""

import json
import os
from pathlib import Path

from delivery.models import Event
from tests.delivery.wsclient import db
from tests.factories import UserFactory
from tests.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts"

# Replaces WebSocket with one that fails to connect, as a proxy that blocks upgrades would, until
# the test sets `window.unblockWebSocket = true`. The client probes the socket every second.
BLOCK_WEBSOCKET = """
window.LEDGERLINE_CLIENT_OPTIONS = {probeDelayMs: 1000};
const RealWebSocket = window.WebSocket;
window.WebSocket = function (url) {
  return window.unblockWebSocket ? new RealWebSocket(url) : new BlockedWebSocket(url);
};
class BlockedWebSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url; this.readyState = 0;
    setTimeout(() => { this.readyState = 3; this.onclose && this.onclose({code: 1006}); }, 20);
  }
  send() { throw new Error("blocked"); }
  close() {}
}
"""


WIDTHS = (1280, 390)  # a laptop and a phone


async def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


async def snap(page, name: str) -> list[Path]:
    """The page as it is, at each of `WIDTHS` (`artifacts/<name>-<width>.png`); the state
    under test holds while the viewport changes. Every text on screen in every state shot
    must pass WCAG AA contrast, at each width."""
    size = page.viewport_size
    paths, failures = [], {}
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 800 if width > 600 else 844})
        await page.wait_for_timeout(150)  # let the layout settle
        paths.append(await screenshot(page, f"{name}-{width}"))
        failures[width] = await contrast_failures(page)
    await page.set_viewport_size(size)
    assert failures == {width: [] for width in WIDTHS}, f"{name}: text below WCAG AA {failures}"
    return paths


def chromium_available() -> bool:
    """True when the browser tests can run. In CI a missing chromium is a failure, not a skip."""
    return os.access(CHROMIUM, os.X_OK) or bool(os.environ.get("CI"))


PASSWORD = "pw-for-tests-only"


async def log_in(page, user) -> None:
    await page.goto("/")
    await page.fill("#id_username", user.username)
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(".chat-layout")


async def open_new_thread(page, *, block_websocket: bool = False):
    user = await db(UserFactory)(password=PASSWORD)
    if block_websocket:
        await page.add_init_script(BLOCK_WEBSOCKET)
    await log_in(page, user)
    if not block_websocket:
        await snap(page, "chat-home")
    await page.click("text=+ New conversation")
    await page.wait_for_selector("#conversation")
    return user


async def open_thread(page, user, thread) -> None:
    """Log in as `user` and open `thread`, as a reload would."""
    await log_in(page, user)
    await page.goto(f"/threads/{thread.id}/")
    await page.wait_for_selector("#conn-status[data-status=live]")


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


async def shown_seqs(page) -> list[int]:
    """The seq of every event the transcript shows a node for: messages, tool calls and their
    results, burst cells. A seq shown twice would appear twice here."""
    return await page.eval_on_selector_all(
        "#transcript > li.msg[data-seq], .tool-card, .burst-item",
        """nodes => nodes.flatMap(n => [n.dataset.seq, n.dataset.doneSeq])
            .filter(Boolean).map(Number)""",
    )


class SocketGate:
    """Stands between the page and daphne (Playwright's WebSocket routing). Open, it passes
    every frame. `hang` makes new sockets open but never answer, as a frozen server would.
    `hold_after` keeps the server's events beyond that seq from the page until `release`."""

    def __init__(self) -> None:
        self.hang = False
        self.hold_after: int | None = None
        self.held: list[tuple[object, str]] = []

    async def install(self, page) -> None:
        await page.route_web_socket("**/ws/threads/**", self.route)

    def route(self, socket) -> None:
        if self.hang:
            return  # never connected: the page's socket stays open and silent
        server = socket.connect_to_server()
        server.on_message(lambda message: self.from_server(socket, message))

    def from_server(self, socket, message: str) -> None:
        frame = json.loads(message)
        if self.hold_after is not None and frame.get("seq", 0) > self.hold_after:
            self.held.append((socket, message))
        else:
            socket.send(message)

    def release(self) -> None:
        self.hold_after = None
        for socket, message in self.held:
            socket.send(message)
        self.held = []


# WCAG AA for every visible run of text: 4.5:1, or 3:1 for large text, against the first
# opaque background behind it. Returns the failures, each with its text and ratio.
CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const node of document.querySelectorAll("body *")) {
    const own = [...node.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    if (!own || !box.width || style.visibility === "hidden" || node.closest("[hidden]")) continue;
    const a = lum(rgb(style.color)), b = lum(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = +style.fontWeight >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const text = node.textContent.trim().slice(0, 40);
    if (ratio < needed) failures.push(`${text}: ${ratio.toFixed(2)}`);
  }
  return failures;
}"""

# The words the page itself says (not the conversation's): no seqs, no "ledger".
UI_TEXT_JS = """() => [...document.querySelectorAll(
  ".topbar, .sidebar, .conv-head, .history-edge, .composer-dock, #transcript > .pruned-note")]
  .map((n) => n.innerText).join("\\n")"""


async def ui_text(page) -> str:
    return await page.evaluate(UI_TEXT_JS)


async def contrast_failures(page) -> list[str]:
    return await page.evaluate(CONTRAST_JS)
