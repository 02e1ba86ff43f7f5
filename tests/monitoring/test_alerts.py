import logging

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


# The webhook (signed, retried by a Celery task): tests/monitoring/test_webhook.py.
