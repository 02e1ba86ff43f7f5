"""Screenshots of console pages at a laptop's and a phone's width, for the browser tests and
docs/console.md: `artifacts/console/<name>-<width>.png`."""

from playwright.sync_api import Page

from tests.chat.browser import ARTIFACTS

SHOTS = ARTIFACTS / "console"
WIDTHS = ((1280, 860), (390, 844))


def snap(page: Page, name: str) -> None:
    """The page as it is, at 1280 and at 390 px (full length), and a check that at 390 px the
    page itself never scrolls sideways: wide tables scroll inside their own box."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)  # let the layout settle
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
        assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
    page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
