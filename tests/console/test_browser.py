"""The support story in a real browser, against a real daphne and a real Celery worker, from a
"nothing happened" ticket to a replayed, acknowledged event; every console page is shot at 1280
and 390 px on the way (artifacts/console/, the pictures of docs/console.md).

alice's client stops acknowledging mid-run, so the answer ends up undelivered. Support lands on
the console, finds the thread by alice's email (an exact hit opens it) and reads why; support
cannot replay. An admin notes the alert, dry-runs and replays with a reason; the connected
client receives exactly the missing events once, marked replay, and acks them; the replay page
follows them to "acked" and the alert resolves itself. bob was away for a burst: recovering
him is a paced replay. Reveal, the audit pages, verification and the workers complete the tour.
"""

import os
import time

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect, sync_playwright

from delivery import emit, emit_many
from delivery.models import Thread, UndeliveredRange
from delivery.repair.reconcile import reconcile
from delivery.tasks import reconcile as reconcile_task
from delivery.wire.tokens import issue_token
from monitoring.verification import run_verification
from tests.chat.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.console.browser_steps import off_loop, wait_until
from tests.console.conftest import staff
from tests.console.screens import snap
from tests.console.ticket_client import TicketClient
from tests.factories import ThreadFactory, UserFactory
from tests.processes import free_port, start_celery_worker, start_daphne, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

PASSWORD = "pw-for-tests-only"
CHECKS = ["database", "channel_layer", "worker", "reconciler_heartbeat", "canary"]


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


def login(browser, base: str, username: str) -> Page:
    """Log in at the site's login page, as a ticket's reader would: staff land on the console."""
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Delivery overview")
    assert page.url == f"{base}/console/"
    return page


def break_delivery(base: str, fast_timings) -> tuple[Thread, TicketClient]:
    """alice's client acks the run's start and its tool calls, then stops acking: the refund
    answer (seq 15-16) runs out of retries."""
    alice = UserFactory(username="alice", email="alice@example.test")
    thread = ThreadFactory(owner=alice, title="Where is my refund?")
    ws_url = base.replace("http", "ws") + f"/ws/threads/{thread.pk}/?token="
    client = TicketClient(
        ws_url + issue_token(user=alice), lambda f: f["seq"] <= 14 or bool(f.get("replay"))
    )
    client.start()
    assert client.ready.wait(10) and client.error is None, client.error
    assert wait_until(lambda: thread.connections.filter(state="live").exists())
    emit(thread, "agent_started", {"question": "refund"})
    emit_many(thread, [("tool_executing", {"tool": "orders", "step": i}) for i in range(12)])
    emit(thread, "agent_step", {"text": "looking up the order"})
    assert wait_until(lambda: Thread.objects.get(pk=thread.pk).acked_seq == 14)
    emit(thread, "agent_step", {"text": "refund approved"})
    emit(thread, "agent_completed", {"answer": "Your refund is on its way"})
    fast_timings(ACK_DEADLINE=0.2, RETRY_BUDGET=2)
    undelivered = UndeliveredRange.objects.filter(thread=thread, first_seq=15, last_seq=16)
    assert wait_until(lambda: reconcile() and undelivered.exists(), step=0.25)
    return thread, client


def away_burst() -> Thread:
    """bob's client was away for a burst of 260 events: none was ever sent."""
    bob = UserFactory(username="bob", email="bob@example.test")
    thread = ThreadFactory(owner=bob, title="Export my invoices")
    emit_many(thread, [("tool_executing", {"page": i}) for i in range(260)])
    return thread


def test_from_a_ticket_to_a_replayed_acked_event(stack, browser, fast_timings):
    thread, client = off_loop(break_delivery, stack, fast_timings)
    bob_thread = off_loop(away_burst)
    off_loop(staff, "support", "support")
    off_loop(lambda: staff("admin", "admin", extra=("reveal_content",)))
    try:
        support_finds_why(browser, stack, thread)
        admin = login(browser, stack, "admin")
        admin_replays(admin, stack, thread, client)
        admin_recovers_bob(admin, stack, bob_thread)
        admin_reveals(admin, stack, thread)
        tour_the_rest(admin, stack, thread)
    finally:
        client.stop()
    assert client.error is None


def support_finds_why(browser, base: str, thread) -> None:
    page = login(browser, base, "support")
    expect(page.locator(".tile.health-failing").first).to_contain_text("1")
    expect(page.locator(".chart svg")).to_have_count(2)
    snap(page, "overview")
    page.fill("#quick-q", "alice@example.test")
    page.press("#quick-q", "Enter")  # an exact hit: the thread opens
    expect(page.locator("h1")).to_contain_text(str(thread.pk))
    open_rows = page.locator("#open-events tbody tr")
    expect(open_rows).to_have_count(2)
    expect(open_rows.first).to_contain_text("to the live connection")
    expect(open_rows.first).to_contain_text("given up (no ack after 2 sends): needs a replay")
    expect(page.locator(".run-summary")).to_contain_text("tool_executing ×12, #2–#13, all acked")  # noqa: RUF001
    expect(page.locator("text=Dry run")).to_have_count(0)
    expect(page.locator("text=refund approved")).to_have_count(0)  # content stays hidden
    snap(page, "thread-why")
    page.goto(f"{base}/console/threads/?q=refund")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    snap(page, "search")
    page.context.close()


def admin_replays(page: Page, base: str, thread, client: TicketClient) -> None:
    page.goto(f"{base}/console/alerts/")
    snap(page, "alerts-open")
    row = page.locator("#alerts tbody tr").first
    row.locator("input[name=note]").fill("SUP-42: alice says the answer never came")
    row.locator("text=Acknowledge").click()
    expect(page.locator("#alerts tbody tr").first).to_contain_text("acknowledged by admin")
    page.goto(f"{base}/console/threads/{thread.pk}/")
    expect(page.locator("input[name=to]")).to_be_visible()  # recover between two times
    snap(page, "thread-replay-form")
    page.click("text=Dry run…")
    expect(page.locator(".plan-summary")).to_contain_text("2 events in 1 thread")
    expect(page.locator(".plan-thread")).to_contain_text("online now")
    snap(page, "dry-run")
    page.fill("#reason", "alice says the refund answer never appeared")
    page.fill("#ticket", "SUP-42")
    page.click("button.danger")
    expect(page.locator("#replay-state")).to_have_text("done", timeout=20_000)
    assert wait_until(lambda: len(client.replayed_seqs()) >= 2), (client.frames, client.error)
    expect(page.locator("#replay-items")).to_contain_text("delivered live to 1 socket → acked")
    expect(page.locator("#tally")).to_contain_text("2 acked by the client now")
    time.sleep(1.0)  # anything sent twice would have arrived by now
    assert client.replayed_seqs() == [15, 16]
    snap(page, "replay")
    off_loop(lambda: reconcile_task.apply())  # a sweep: the alert's condition has cleared
    page.goto(f"{base}/console/threads/{thread.pk}/")
    expect(page.locator("#open-events")).to_contain_text("Every event in view was acknowledged")
    expect(page.locator(".tl-replay").first).to_contain_text("admin replayed seq 15–16")  # noqa: RUF001
    page.locator("#seq-16 .attempts summary").click()
    attempts = page.locator("#seq-16 .attempts-table tbody tr")
    expect(attempts).to_have_count(5)  # live, two retries (socket and group), replay twice
    expect(attempts.last).to_contain_text("replay")
    snap(page, "thread-after")
    page.goto(f"{base}/console/alerts/")
    expect(page.locator("#alerts tbody tr").first).to_contain_text("by Ledgerline")
    snap(page, "alerts")


def admin_recovers_bob(page: Page, base: str, thread) -> None:
    page.goto(f"{base}/console/threads/?q=bob")
    expect(page.locator("h1")).to_contain_text(str(thread.pk))
    page.check("input[name=scope][value=filter]")
    page.click("text=Dry run…")
    expect(page.locator(".plan-summary")).to_contain_text("260 events in 1 thread")
    expect(page.locator("#plan-summary")).to_contain_text("the replay is paced")
    snap(page, "dry-run-paced")
    page.fill("#reason", "bob missed the export while offline")
    page.click("button.danger")
    expect(page.locator("#paced-state")).to_have_text("done", timeout=30_000)
    expect(page.locator("#tally")).to_contain_text("260 queued for next connect")
    snap(page, "paced")
    page.goto(f"{base}/console/replays/")
    expect(page.locator("#audit tbody tr")).to_have_count(3)  # alice's, and bob's two waves
    snap(page, "replays")


def admin_reveals(page: Page, base: str, thread) -> None:
    page.goto(f"{base}/console/threads/{thread.pk}/")
    event = page.locator("#seq-16")
    event.locator("summary", has_text="Reveal content").click()
    event.locator("input[name=reason]").fill("SUP-42: check the answer's wording")
    event.locator("button", has_text="Reveal").click()
    expect(event.locator("pre.json")).to_contain_text('"answer": "Your refund is on its way"')
    event.scroll_into_view_if_needed()
    snap(page, "reveal")
    page.goto(f"{base}/console/reveals/")
    expect(page.locator("#reveals tbody tr").first).to_contain_text("check the answer's wording")
    snap(page, "reveals")


def tour_the_rest(page: Page, base: str, thread) -> None:
    page.goto(f"{base}/console/threads/{thread.pk}/?type=tool_executing&state=acked")
    page.locator(".run-summary").click()
    expect(page.locator("#seq-13")).to_be_visible()
    snap(page, "thread-filtered")
    off_loop(reconcile)  # a fresh reconciler heartbeat; beat is not running in tests
    off_loop(lambda: run_verification(trigger="canary", only=["canary"]))
    page.goto(f"{base}/console/verification/")
    page.click("text=Run full verification now")
    expect(page.locator("#run-state")).not_to_contain_text("running", timeout=40_000)
    expect(page.locator("#checks tr.check-row")).to_have_count(len(CHECKS))
    snap(page, "verification-run")
    page.goto(f"{base}/console/verification/")
    expect(page.locator("#readiness")).to_have_text("200 ready")
    snap(page, "verification")
    page.goto(f"{base}/console/verification/?kind=canary")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody tr")).to_contain_text("canary")
    snap(page, "verification-canary")
    page.goto(f"{base}/console/workers/")
    ours = page.locator(".worker", has_text=f"test-{os.getpid()}@")  # the broker is shared
    expect(ours).to_contain_text("last heartbeat")
    expect(ours).not_to_contain_text("last heartbeat never")
    snap(page, "workers")
    page.goto(f"{base}/console/api-keys/")
    page.fill("#key-name", "billing-service")
    page.click("text=Create key")
    expect(page.locator("code.secret")).to_contain_text("llk_")  # shown once, here
    snap(page, "api-keys-created")
    page.goto(f"{base}/console/api-keys/")
    expect(page.locator("code.secret")).to_have_count(0)  # and never again
    page.locator("button", has_text="Revoke").first.click()
    expect(page.locator("tbody tr").first).to_contain_text("revoked")
    snap(page, "api-keys")
