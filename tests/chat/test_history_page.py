"""The thread page opens on its newest whole turns; the rest is a "Load earlier" away."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from chat import selectors
from delivery import emit, emit_many
from delivery.ledger.services import post_message
from delivery.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _no_budget(settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "MESSAGES_PER_MINUTE": 10_000}


@pytest.fixture(autouse=True)
def _no_runs(monkeypatch):
    from agent import tasks

    monkeypatch.setattr(tasks.answer_message, "delay", lambda *args: None)


def turn(thread, n: int, answer: str = "") -> None:
    message, _ = post_message(thread=thread, text=f"question {n}", client_id=f"c{n}")
    run = {"run_id": str(message.event_id)}
    emit(thread, "agent_started", run)
    emit(thread, "agent_completed", {**run, "answer": answer or f"answer {n}"})


def page_of(browser, thread) -> str:
    return browser.get(reverse("chat:thread", kwargs={"thread_id": thread.id})).content.decode()


def test_a_long_thread_opens_on_its_newest_turns_with_its_first_message_as_title(browser, thread):
    thread.title = ""
    thread.save()
    for n in range(1, 31):
        turn(thread, n)
    page = page_of(browser, thread)
    shown = [int(n) for n in re.findall(r'<div class="bubble">question (\d+)</div>', page)]
    assert shown == list(range(31 - selectors.OPENING_TURNS, 31))
    assert "question 1</h1>" in page  # the heading is the thread's first message, not shown
    assert 'class="load-earlier">' in page  # not hidden: earlier turns remain
    first = re.search(r'data-first-seq="(\d+)"', page).group(1)
    assert Event.objects.get(thread=thread, seq=first).type == "user_message"


def test_a_huge_last_turn_still_shows_the_question_that_started_it(browser, thread):
    turn(thread, 1)
    message, _ = post_message(thread=thread, text="/burst 1200", client_id="burst")
    run = {"run_id": str(message.event_id)}
    emit_many(thread, [("burst", {**run, "i": i, "of": 1200}) for i in range(1, 1201)])
    emit(thread, "agent_completed", {**run, "answer": "Sent 1200 burst events"})
    page = page_of(browser, thread)
    assert '<div class="bubble">/burst 1200</div>' in page
    assert '<div class="bubble">question 1</div>' not in page
    assert page.count('class="burst-item"') == 1200
    assert 'class="load-earlier">' in page


def test_a_short_thread_shows_its_start(browser, thread):
    turn(thread, 1)
    page = page_of(browser, thread)
    assert 'class="load-earlier" hidden' in page
    assert 'class="start-note">' in page and 'class="pruned-note" hidden' in page


def test_past_retention_the_page_says_older_messages_are_gone(browser, thread):
    turn(thread, 1)
    turn(thread, 2)
    Event.objects.filter(thread=thread, seq__lte=3).delete()  # as retention drops a prefix
    page = page_of(browser, thread)
    assert 'class="pruned-note">Some older messages are no longer available.' in page
    assert 'class="load-earlier" hidden' in page


def test_answers_go_out_as_markdown_source_and_html_in_them_is_text(browser, thread):
    turn(thread, 1, answer="Use `resume` <script>alert(1)</script>")
    page = page_of(browser, thread)
    assert "data-markdown>Use `resume` &lt;script&gt;alert(1)&lt;/script&gt;</div>" in page
    assert "<script>alert" not in page


def test_messages_carry_their_time(browser, thread):
    turn(thread, 1)
    page = page_of(browser, thread)
    assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d\d:\d\d</time>', page)) == 2


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert client.get(response.url).status_code == 200


def test_a_failed_login_keeps_the_username(client, user):
    response = client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    page = response.content.decode()
    assert f'value="{user.username}"' in page and "did not match" in page
