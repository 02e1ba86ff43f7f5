import pytest
from django.test import Client
from django.urls import reverse

from agent import tasks
from delivery import emit
from delivery.ledger.services import post_message
from delivery.models import Event, Thread
from tests.factories import ThreadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _no_runs(monkeypatch):
    monkeypatch.setattr(tasks.answer_message, "delay", lambda *args: None)


def test_chat_page_requires_login(client, thread):
    for url in ["/", reverse("chat:thread", kwargs={"thread_id": thread.id})]:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_home_lists_the_users_threads_by_first_message(browser, thread, other_user):
    post_message(thread=thread, text="what is 12*7", client_id="c1")
    ThreadFactory(owner=other_user, title="someone else's")
    page = browser.get("/").content.decode()
    assert "what is 12*7" in page and "someone else" not in page


def test_new_thread_is_a_csrf_protected_post(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(reverse("chat:new_thread")).status_code == 403
    token = client.get("/").cookies["csrftoken"].value
    response = client.post(reverse("chat:new_thread"), {"csrfmiddlewaretoken": token})
    thread = Thread.objects.get(owner=user)
    assert response.url == reverse("chat:thread", kwargs={"thread_id": thread.id})


def test_thread_page_renders_history_from_the_ledger(browser, thread):
    post_message(thread=thread, text="what is 12*7", client_id="c1")
    run = {"run_id": "r1"}
    emit(thread, "agent_started", run)
    emit(thread, "tool_executing", {**run, "tool": "calculator", "input": "12*7", "call_id": "k"})
    emit(thread, "tool_completed", {**run, "call_id": "k", "ok": True, "result": "84"})
    emit(thread, "agent_completed", {**run, "answer": "12*7 = 84"})
    response = browser.get(reverse("chat:thread", kwargs={"thread_id": thread.id}))
    page = response.content.decode()
    assert 'data-rendered-seq="5"' in page
    assert 'class="run done"' in page and 'class="tool-card done"' in page
    assert "12*7 = 84" in page and page.count('class="msg user"') == 1


def test_a_run_without_a_terminal_event_still_spins(browser, thread):
    emit(thread, "agent_started", {"run_id": "r1"})
    page = browser.get(reverse("chat:thread", kwargs={"thread_id": thread.id})).content.decode()
    assert 'class="run"' in page


def test_the_no_script_composer_posts_once_per_client_id(browser, thread):
    url = reverse("chat:post_message", kwargs={"thread_id": thread.id})
    for _ in range(2):
        assert browser.post(url, {"text": "hello", "client_id": "same"}).status_code == 302
    assert Event.objects.filter(thread=thread, type="user_message").count() == 1


def test_a_tool_left_running_by_a_failed_run_failed_with_it(browser, thread):
    """`/fail`: the tool's label agrees with the run's outcome, in words."""
    emit(thread, "tool_executing", {"run_id": "r1", "tool": "crash", "input": "", "call_id": "k"})
    detail = "ToolCrashed: the crash tool failed"
    emit(thread, "agent_failed", {"run_id": "r1", "reason": "error", "detail": detail})
    page = browser.get(reverse("chat:thread", kwargs={"thread_id": thread.id})).content.decode()
    assert 'class="tool-card failed"' in page and '<span class="tool-state">failed</span>' in page
    assert f"Something went wrong: {detail}" in page and "interrupted" not in page
