import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from monitoring.alerts import acknowledge_alert, raise_alert, resolve_alerts
from monitoring.models import Alert

pytestmark = pytest.mark.django_db


def test_repeats_are_deduplicated_into_one_alert(thread):
    first = raise_alert(kind="undelivered", thread_id=thread.id, summary="1 event undelivered")
    again = raise_alert(kind="undelivered", thread_id=thread.id, summary="2 events undelivered")
    assert first.pk == again.pk
    alert = Alert.objects.get()
    assert (alert.count, alert.summary, alert.state) == (2, "2 events undelivered", "open")
    assert alert.last_seen >= alert.first_seen


def test_an_acknowledged_alert_still_absorbs_repeats(thread):
    alert = raise_alert(kind="stalled_run", thread_id=thread.id, summary="run stalled")
    acknowledge_alert(alert_id=alert.pk)
    raise_alert(kind="stalled_run", thread_id=thread.id, summary="run stalled")
    assert Alert.objects.get().count == 2


def test_a_resolved_alert_reopens_as_a_new_row(thread):
    raise_alert(kind="undelivered", thread_id=thread.id, summary="x")
    assert resolve_alerts(kind="undelivered", thread_id=thread.id) == 1
    raise_alert(kind="undelivered", thread_id=thread.id, summary="x")
    assert list(Alert.objects.order_by("pk").values_list("state", flat=True)) == [
        "resolved",
        "open",
    ]


def test_alerts_are_logged_at_error_or_critical_with_context(thread, caplog):
    with caplog.at_level(logging.ERROR, logger="monitoring.alerts"):
        raise_alert(kind="undelivered", thread_id=thread.id, summary="s", context={"seqs": [4]})
        raise_alert(kind="verification_failed", severity="critical", summary="canary failed")
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.ERROR, logging.CRITICAL]
    assert str(thread.id) in caplog.records[0].getMessage()
    assert '"seqs": [4]' in caplog.records[0].getMessage()


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_new_alerts_are_posted_to_the_webhook_once(thread, settings, monkeypatch):
    from monitoring import alerts

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    _Hook.received, senders, original = [], [], alerts.post_webhook
    monkeypatch.setattr(alerts, "post_webhook", lambda a: senders.append(original(a)))
    try:
        alert = raise_alert(kind="undelivered", thread_id=thread.id, summary="lost")
        raise_alert(kind="undelivered", thread_id=thread.id, summary="lost")  # a repeat
        for sender in senders:
            sender.join(5)
    finally:
        server.shutdown()
    assert len(senders) == 1
    assert len(_Hook.received) == 1
    body = _Hook.received[0]
    assert (body["kind"], body["thread"], body["id"]) == ("undelivered", str(thread.id), alert.pk)


def test_a_failing_webhook_is_logged_and_never_raises(thread, settings, caplog):
    from monitoring import alerts

    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:1/unreachable"
    with caplog.at_level(logging.ERROR, logger="monitoring.alerts"):
        alert = raise_alert(kind="undelivered", thread_id=thread.id, summary="lost")
        alerts.post_webhook(alert).join(5)
    assert any("webhook" in r.getMessage() for r in caplog.records)
