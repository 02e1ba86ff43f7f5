"""The support story in a real browser, against a real daphne and a real Celery worker.

A user's client stops acknowledging mid-run, so two events end up undelivered. Support finds
the thread by the user's email and sees why; support cannot replay. An admin dry-runs and
replays with a reason; the connected client receives exactly the missing events once, marked
replay, and the audit shows it. The "run verification" button runs every check.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from playwright.sync_api import Page, expect, sync_playwright

from delivery import emit
from delivery.models import Thread, UndeliveredRange
from delivery.reconcile import reconcile
from delivery.tokens import issue_token
from tests.chat.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.console.conftest import staff
from tests.console.ticket_client import TicketClient
from tests.factories import ThreadFactory, UserFactory
from tests.processes import free_port, start_celery_worker, start_daphne, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

PASSWORD = "pw-for-tests-only"
CHECKS = ["database", "channel_layer", "worker", "reconciler_heartbeat", "canary"]


def off_loop(func, *args):
    """Run ORM and channel-layer code in a plain thread, away from Playwright's event loop."""

    def call():
        try:
            return func(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def wait_until(check, timeout: float = 15.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)


@pytest.fixture
def stack(tmp_path, settings):
    """daphne and a Celery worker on a queue of their own, with PUBLIC_URL pointing at daphne."""
    port = free_port()
    queue = f"{django_settings.TEST_RUN}-console"
    env = {"PUBLIC_URL": f"http://127.0.0.1:{port}", "LEDGERLINE_TEST_QUEUE": queue}
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.PUBLIC_URL = env["PUBLIC_URL"]
    web = start_daphne(port, tmp_path / "daphne.log", **env)
    worker = start_celery_worker(tmp_path / "worker.log", **env)
    yield f"http://127.0.0.1:{port}"
    stop(worker)
    stop(web)


@pytest.fixture
def browser(stack, monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between page actions are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        connections.close_all()  # the ones opened while Playwright's loop was running


def login(browser, base: str, username: str) -> Page:
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"{base}/console/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Delivery overview")
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def break_delivery(base: str, fast_timings) -> tuple[object, TicketClient]:
    """alice's client acks seq 1-2, then stops acking: seq 3-4 run out of retries."""
    alice = UserFactory(username="alice", email="alice@example.test")
    thread = ThreadFactory(owner=alice, title="Where is my refund?")
    ws_url = base.replace("http", "ws") + f"/ws/threads/{thread.pk}/?token="
    client = TicketClient(
        ws_url + issue_token(user=alice), lambda f: f["seq"] <= 2 or bool(f.get("replay"))
    )
    client.start()
    assert client.ready.wait(10) and client.error is None, client.error
    assert wait_until(lambda: thread.connections.filter(state="live").exists())
    emit(thread, "agent_started", {"question": "refund"})
    emit(thread, "agent_step", {"text": "looking up the order"})
    assert wait_until(lambda: Thread.objects.get(pk=thread.pk).acked_seq == 2)
    emit(thread, "agent_step", {"text": "refund approved"})
    emit(thread, "agent_completed", {"answer": "Your refund is on its way"})
    fast_timings(ACK_DEADLINE=0.2, RETRY_BUDGET=2)
    undelivered = UndeliveredRange.objects.filter(thread=thread, first_seq=3, last_seq=4)
    assert wait_until(lambda: reconcile() and undelivered.exists(), step=0.25)
    return thread, client


def test_support_finds_the_loss_and_an_admin_replays_it(stack, browser, fast_timings):
    thread, client = off_loop(break_delivery, stack, fast_timings)
    off_loop(staff, "support", "support")
    off_loop(staff, "admin", "admin")
    try:
        support_sees_why(browser, stack, thread)
        admin_replays(browser, stack, thread, client)
    finally:
        client.stop()
    assert client.error is None


def support_sees_why(browser, base: str, thread) -> None:
    page = login(browser, base, "support")
    expect(page.locator(".tile.health-failing").first).to_contain_text("1")
    shot(page, "overview")
    page.click("a[href='/console/threads/']")
    page.fill("#q", "alice@example.test")
    page.press("#q", "Enter")
    expect(page.locator("#results")).to_contain_text("matching “alice@example.test”")
    row = page.locator("#results tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("failing")
    shot(page, "search-results")
    row.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text(str(thread.pk))
    open_rows = page.locator("#open-events tbody tr")
    expect(open_rows).to_have_count(2)
    expect(open_rows.first).to_contain_text("to the live connection")
    expect(open_rows.first).to_contain_text("given up (no ack after 2 sends): needs a replay")
    expect(page.locator("text=Dry run")).to_have_count(0)
    expect(page.locator("text=refund approved")).to_have_count(0)  # content stays hidden
    shot(page, "thread-timeline")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(
        f"{base}/console/replays/new",
        form={"scope": "thread", "thread": str(thread.pk), "reason": "try"},
        headers={"X-CSRFToken": token},
    )
    assert refused.status == 403
    page.context.close()


def admin_replays(browser, base: str, thread, client: TicketClient) -> None:
    page = login(browser, base, "admin")
    page.goto(f"{base}/console/threads/{thread.pk}/")
    page.click("text=Dry run…")
    expect(page.locator(".plan-summary")).to_contain_text("2 events in 1 thread")
    assert wait_until(lambda: thread.connections.filter(state="live").exists())
    expect(page.locator(".plan-thread")).to_contain_text("online now")
    shot(page, "replay-dry-run")
    page.fill("#reason", "alice says the refund answer never appeared")
    page.fill("#ticket", "SUP-42")
    page.click("button.danger")
    expect(page.locator("#replay-state")).to_have_text("done", timeout=20_000)
    expect(page.locator("#replay-items")).to_contain_text("sent to a live connection")
    assert wait_until(lambda: len(client.replayed_seqs()) >= 2), (client.frames, client.error)
    assert wait_until(lambda: Thread.objects.get(pk=thread.pk).acked_seq == 4)
    time.sleep(1.0)  # anything sent twice would have arrived by now
    assert client.replayed_seqs() == [3, 4]
    page.goto(f"{base}/console/replays/")
    expect(page.locator("#audit tbody tr").first).to_contain_text("alice says the refund")
    expect(page.locator("#audit tbody tr").first).to_contain_text("admin")
    shot(page, "replay-audit")
    page.goto(f"{base}/console/threads/{thread.pk}/")
    expect(page.locator("tr.replay")).to_contain_text("admin replayed seq 3–4")  # noqa: RUF001
    expect(page.locator("#open-events")).to_contain_text("Every event in view was acknowledged")
    shot(page, "thread-after-replay")
    run_verification(page, base)


def run_verification(page: Page, base: str) -> None:
    off_loop(reconcile)  # a fresh reconciler heartbeat; beat is not running in tests
    page.goto(f"{base}/console/verification/")
    page.click("text=Run startup verification now")
    expect(page.locator("#run-state")).not_to_contain_text("running", timeout=40_000)
    rows = page.locator("#checks tr.check-row")
    expect(rows).to_have_count(len(CHECKS))
    for name in CHECKS:
        expect(page.locator("#checks")).to_contain_text(name)
    shot(page, "verification")
