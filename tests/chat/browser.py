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

# Replaces WebSocket with one that always fails to connect, as a proxy that blocks upgrades would.
BLOCK_WEBSOCKET = """
window.WebSocket = class BlockedWebSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url; this.readyState = 0;
    setTimeout(() => { this.readyState = 3; this.onclose && this.onclose({code: 1006}); }, 20);
  }
  send() { throw new Error("blocked"); }
  close() {}
};
"""


async def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)
