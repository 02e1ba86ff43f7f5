"""Playwright against Debian's chromium, and the real servers a browser test talks to."""

import os
from pathlib import Path

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


async def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


def chromium_available() -> bool:
    """True when the browser tests can run. In CI a missing chromium is a failure, not a skip."""
    return os.access(CHROMIUM, os.X_OK) or bool(os.environ.get("CI"))
