"""Alerts resolve themselves when their condition clears, recording when and why; operators'
acknowledgements and resolutions say who, with an optional note; the webhook hears of both
the opening and the resolution."""

import json

import pytest

from delivery import emit, signals
from delivery.models import Thread, UndeliveredRange
from delivery.tasks import reconcile as reconcile_task
from monitoring import alerts, webhook
from monitoring.alerts import raise_alert
from monitoring.clearing import resolve_cleared
from monitoring.models import Alert, VerificationRun
from monitoring.verification import report
from tests.ledger import ack, sent

pytestmark = pytest.mark.django_db


@pytest.fixture
def posted(settings, monkeypatch):
    """The bodies the webhook would POST, in order."""
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    bodies: list[dict] = []
    monkeypatch.setattr(webhook, "send_in_background", lambda body: bodies.append(json.loads(body)))
    return bodies


@pytest.fixture
def lost(thread):
    """Seq 2-3 given up on, as the reconciler records it: a range and the signal's alert."""
    for _ in range(3):
        emit(thread, "agent_step", {})
    sent(thread, 1, 3)
    ack(thread, 1)
    UndeliveredRange.objects.create(thread=thread, first_seq=2, last_seq=3, cause="no ack")
    signals.event_undelivered.send(
        sender=Thread, thread_id=thread.pk, first=2, last=3, cause="no ack"
    )
    return Alert.objects.get(kind="undelivered")


def test_an_undelivered_alert_resolves_itself_once_the_client_acks(thread, posted, lost):
    assert resolve_cleared() == 0  # still lost
    ack(thread, 2)
    assert resolve_cleared() == 0  # seq 3 is still owed
    ack(thread, 3)
    assert resolve_cleared() == 1
    lost.refresh_from_db()
    assert (lost.state, lost.resolved_by) == ("resolved", "")
    assert lost.resolved_at is not None and lost.resolved_by_ledgerline
    assert lost.cause == "the client acknowledged the events up to #3 (acked up to #3)"
    assert [(b["state"], b["resolved_by"]) for b in posted] == [
        ("open", None),
        ("resolved", "Ledgerline"),
    ]
    assert posted[-1]["cause"] == lost.cause


def test_a_stalled_run_alert_resolves_when_its_closing_event_is_acked(thread):
    for _ in range(2):
        emit(thread, "agent_step", {})
    raise_alert(
        kind="stalled_run", thread_id=thread.pk, summary="stalled", context={"closing_seq": 2}
    )
    ack(thread, 1)
    assert resolve_cleared() == 0
    ack(thread, 2)
    assert resolve_cleared() == 1
    assert "closing agent_failed event up to #2" in Alert.objects.get().cause


def test_every_reconciler_sweep_resolves_what_cleared(thread, lost):
    ack(thread, 3)
    reconcile_task.apply()  # the worker's task_postrun hook follows each sweep
    assert Alert.objects.get().state == "resolved"


def test_a_passing_verification_resolves_its_alerts_with_the_cause(posted):
    raise_alert(kind="verification_failed", severity="critical", summary="worker")
    raise_alert(kind="canary_failed", severity="critical", summary="canary")
    run = VerificationRun.objects.create(trigger="recheck", ok=True)
    report(run)
    causes = set(Alert.objects.values_list("state", "cause"))
    assert causes == {("resolved", f"recheck run #{run.pk} passed")}
    assert [b["state"] for b in posted] == ["open", "open", "resolved", "resolved"]


def test_resolving_twice_changes_nothing(lost):
    assert len(alerts.resolve(Alert.objects.filter(pk=lost.pk), by="a")) == 1
    assert alerts.resolve(Alert.objects.filter(pk=lost.pk), by="b") == []
    assert Alert.objects.get().resolved_by == "a"
