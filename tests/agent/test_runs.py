import pytest

from agent import tasks
from agent.runs import run_for_message
from delivery.ledger.services import post_message
from delivery.models import Event

pytestmark = pytest.mark.django_db


def _run(thread, text, message_id="m-1"):
    run_for_message(thread_id=str(thread.id), message_id=message_id, text=text, pause=0)
    return list(Event.objects.filter(thread=thread).order_by("seq"))


def test_calculator_question_emits_the_exact_run(thread):
    events = _run(thread, "what is 12*7")
    assert [(e.seq, e.type) for e in events] == [
        (1, "agent_started"),
        (2, "agent_thinking"),
        (3, "tool_executing"),
        (4, "tool_completed"),
        (5, "agent_completed"),
    ]
    assert {e.payload["run_id"] for e in events} == {"m-1"}
    assert events[2].payload | {"run_id": None} == {
        "run_id": None,
        "tool": "calculator",
        "input": "12*7",
        "call_id": "m-1:3",
    }
    assert events[3].payload["result"] == "84" and events[3].payload["ok"] is True
    assert events[4].payload["answer"] == "`12*7` = 84"


def test_a_crashing_tool_ends_the_run_with_agent_failed(thread):
    events = _run(thread, "/fail")
    assert [e.type for e in events] == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "agent_failed",
    ]
    assert events[-1].payload["reason"] == "error"
    assert "ToolCrashed" in events[-1].payload["detail"]


def test_a_tool_error_is_reported_and_the_run_completes(thread):
    events = _run(thread, "what is 1/0")
    assert events[3].payload == {
        "run_id": "m-1",
        "tool": "calculator",
        "call_id": "m-1:3",
        "ok": False,
        "error": "division by zero",
    }
    assert events[-1].type == "agent_completed"
    assert "division by zero" in events[-1].payload["answer"]


def test_burst_over_the_cap_fails_with_a_clear_reason(thread, settings):
    settings.LEDGERLINE_AGENT = {**settings.LEDGERLINE_AGENT, "BURST_MAX": 10}
    events = _run(thread, "/burst 11")
    assert [e.type for e in events] == ["agent_started", "agent_failed"]
    assert events[-1].payload == {
        "run_id": "m-1",
        "reason": "burst_too_large",
        "detail": "/burst 11 is over the cap of 10 (LEDGERLINE_BURST_MAX)",
    }


def test_burst_emits_n_events_in_chunks_then_completes(thread):
    events = _run(thread, "/burst 600 8")
    bursts = [e for e in events if e.type == "burst"]
    assert [e.payload["i"] for e in bursts] == list(range(1, 601))
    assert bursts[0].payload["pad"] == "x" * 8
    assert [events[0].type, events[1].type, events[-1].type] == [
        "agent_started",
        "agent_thinking",
        "agent_completed",
    ]


@pytest.mark.parametrize("text", ["/burst", "/burst zero", "/burst 5 99999", "/burst 0"])
def test_a_bad_burst_command_fails_with_usage(thread, text):
    events = _run(thread, text)
    assert events[-1].type == "agent_failed"
    assert events[-1].payload["reason"] == "invalid_command"


def test_a_retried_run_adds_no_events(thread):
    first = _run(thread, "what is 12*7")
    again = _run(thread, "what is 12*7")
    assert [e.seq for e in again] == [e.seq for e in first]


def test_knowledge_answers_about_ledgerline(thread):
    events = _run(thread, "how does resume work?")
    assert events[3].payload["result"][0]["title"] == "resume"
    assert "?after=" in events[-1].payload["answer"]


@pytest.mark.agent
def test_a_new_message_starts_one_run_and_a_resend_starts_none(
    thread, monkeypatch, django_capture_on_commit_callbacks
):
    started = []
    monkeypatch.setattr(tasks.answer_message, "delay", lambda *args: started.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        event, created = post_message(thread=thread, text="what is 2+2", client_id="c-1")
    with django_capture_on_commit_callbacks(execute=True):
        _, again = post_message(thread=thread, text="what is 2+2", client_id="c-1")
    assert (created, again) == (True, False)
    assert started == [(str(thread.id), str(event.event_id), "what is 2+2", thread.owner_id)]


@pytest.mark.agent
def test_a_run_that_cannot_be_enqueued_is_closed_visibly(
    thread, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.answer_message, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        event, _ = post_message(thread=thread, text="hi", client_id="c-2")
    last = Event.objects.filter(thread=thread).order_by("seq").last()
    assert (last.type, last.payload["reason"]) == ("agent_failed", "not_started")
    assert last.payload["run_id"] == str(event.event_id)
