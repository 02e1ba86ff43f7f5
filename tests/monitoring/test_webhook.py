"""The alert webhook against a real HTTP receiver on loopback: every POST is signed, and an
unreachable or failing receiver is tried again with backoff, never blocking the alert."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery import current_app
from celery.utils.time import get_exponential_backoff_interval
from kombu.exceptions import OperationalError

from monitoring import webhook
from monitoring.alerts import raise_alert
from monitoring.webhook import send_alert_webhook
from tests.processes import free_port

pytestmark = pytest.mark.django_db

SECRET = "receiver-shares-this-secret"


class Receiver(ThreadingHTTPServer):
    """Answers each POST with the next status of `statuses` (the last one repeats)."""

    def __init__(self, statuses: list[int], delay: float = 0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses, self.delay, self.received = list(statuses), delay, []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hooks/ledgerline"

    def next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.received.append({"headers": dict(self.headers), "body": body})
        time.sleep(self.server.delay)
        self.send_response(self.server.next_status())
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    """A receiver answering 200; a test sets `receiver.statuses` for anything else."""
    server = Receiver([200])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = server.url, SECRET
    yield server
    server.shutdown()
    server.server_close()


def signature_matches(request: dict, secret: str = SECRET) -> bool:
    """The receiver's check, written out here independently of monitoring.webhook."""
    timestamp = request["headers"]["X-Ledgerline-Timestamp"]
    expected = hmac.new(
        secret.encode(), f"{timestamp}.{request['body']}".encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(request["headers"]["X-Ledgerline-Signature"], f"sha256={expected}")


def test_each_post_carries_a_recent_timestamp_and_a_valid_signature(receiver):
    body = json.dumps({"id": 7, "kind": "undelivered"})

    assert send_alert_webhook.apply(args=(body,)).get() == 200

    [request] = receiver.received
    assert request["body"] == body
    assert abs(int(request["headers"]["X-Ledgerline-Timestamp"]) - time.time()) < 60
    assert signature_matches(request)
    assert not signature_matches(request, secret="another-secret")
    assert not signature_matches({**request, "body": body.replace("7", "8")})


def test_receivers_verify_reject_forgeries_and_replays(receiver):
    send_alert_webhook.apply(args=('{"id": 1}',))
    [request] = receiver.received
    timestamp = request["headers"]["X-Ledgerline-Timestamp"]
    signature = request["headers"]["X-Ledgerline-Signature"]

    def check(**changes):
        sent = {"timestamp": timestamp, "signature": signature, "body": request["body"], **changes}
        return webhook.verify(SECRET, **sent)

    assert check()
    assert not check(body='{"id": 2}')
    assert not check(timestamp=str(int(timestamp) + 1))
    assert not check(timestamp="not-a-number")
    assert not webhook.verify(
        SECRET, timestamp=timestamp, signature=signature, body=request["body"],
        now=int(timestamp) + webhook.TOLERANCE_SECONDS + 1,
    )  # fmt: skip


def test_a_receiver_failing_twice_gets_the_alert_on_the_third_try(receiver):
    receiver.statuses = [503, 503, 200]

    result = send_alert_webhook.apply(args=('{"id": 3}',))

    assert result.successful() and result.get() == 200
    assert len(receiver.received) == 3
    assert all(signature_matches(request) for request in receiver.received)


def test_a_receiver_that_stays_down_is_given_up_after_five_retries(receiver, caplog):
    receiver.statuses = [503]

    result = send_alert_webhook.apply(args=('{"id": 4}',))

    assert result.failed() and isinstance(result.result, webhook.WebhookUnavailable)
    assert len(receiver.received) == 1 + send_alert_webhook.max_retries == 6
    assert "will retry" in caplog.text


def test_an_unreachable_receiver_is_retried_too(settings, caplog):
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}/nobody"
    settings.ALERT_WEBHOOK_SECRET = SECRET

    result = send_alert_webhook.apply(args=('{"id": 5}',))

    assert result.failed()
    assert caplog.text.count("unreachable") == 1 + send_alert_webhook.max_retries


def test_a_refusal_4xx_is_not_retried(receiver):
    receiver.statuses = [401]

    assert send_alert_webhook.apply(args=('{"id": 6}',)).get() == 401
    assert len(receiver.received) == 1


def test_retries_back_off_exponentially():
    options = send_alert_webhook
    assert options.autoretry_for == (webhook.WebhookUnavailable,)
    assert options.retry_jitter  # each delay drawn below its ceiling, so workers do not align
    ceilings = [
        get_exponential_backoff_interval(
            options.retry_backoff, retries, options.retry_backoff_max, full_jitter=False
        )
        for retries in range(options.max_retries)
    ]
    assert ceilings == [5, 10, 20, 40, 80]


def test_raising_an_alert_does_not_wait_for_a_slow_receiver(receiver, thread):
    receiver.delay = 5.0
    started = time.monotonic()

    raise_alert(kind="undelivered", thread_id=thread.id, summary="lost")

    assert time.monotonic() - started < 1.0
    assert receiver.received == []  # queued for a worker, not posted inline


def test_a_new_alert_reaches_the_receiver_signed_once(receiver, thread, monkeypatch):
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)  # the worker, in-process

    alert = raise_alert(kind="undelivered", thread_id=thread.id, summary="lost")
    raise_alert(kind="undelivered", thread_id=thread.id, summary="lost")  # a repeat

    [request] = receiver.received
    assert signature_matches(request)
    body = json.loads(request["body"])
    assert (body["kind"], body["thread"], body["id"]) == ("undelivered", str(thread.id), alert.pk)


def test_with_the_broker_down_one_direct_attempt_still_leaves(receiver, thread, monkeypatch):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis")

    monkeypatch.setattr(send_alert_webhook, "apply_async", broker_down)

    raise_alert(kind="verification_failed", severity="critical", summary="redis down")

    [request] = receiver.wait_for(1)
    assert signature_matches(request)
    assert json.loads(request["body"])["kind"] == "verification_failed"


def test_a_webhook_url_without_a_secret_fails_the_system_check(settings):
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = "https://hooks.example/x", ""
    assert [error.id for error in webhook.check_secret()] == ["monitoring.E002"]
    settings.ALERT_WEBHOOK_SECRET = SECRET
    assert webhook.check_secret() == []
