"""The fast-path publisher: emit returns at commit, rounds coalesce, nothing is left behind."""

import subprocess
import sys
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from delivery import emit
from delivery.fastpath.publisher import publisher
from delivery.models import DeliveryAttempt, Event
from tests.delivery.wsclient import listen
from tests.processes import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def receive(channel: str) -> dict:
    return async_to_sync(get_channel_layer().receive)(channel)


class HeldPublisher:
    """Keeps the publisher thread busy, so emits queue up behind it."""

    def __enter__(self):
        self.gate, self.held = threading.Event(), threading.Event()

        def hold():
            self.held.set()
            self.gate.wait(10)

        self.worker = threading.Thread(target=publisher.call, args=(hold,))
        self.worker.start()
        assert self.held.wait(5)
        return self

    def __exit__(self, *exc):
        self.gate.set()
        self.worker.join(10)


def test_emit_returns_at_commit_and_the_fast_path_follows(thread):
    channel = listen(thread)
    with HeldPublisher():
        event = emit(thread, "agent_thinking", {"text": "hm"})
        assert Event.objects.filter(pk=event.pk).exists()  # committed, not yet sent
    assert publisher.wait_idle()
    assert [f["seq"] for f in receive(channel)["events"]] == [1]


def test_queued_emits_of_a_thread_go_out_as_one_message_in_seq_order(thread, other_user):
    from tests.factories import ThreadFactory

    other = ThreadFactory(owner=other_user)
    mine, theirs = listen(thread), listen(other)
    with HeldPublisher():
        for i in range(3):
            emit(thread, "step", {"i": i})
        emit(other, "step", {"i": 0})
    assert publisher.wait_idle()
    message = receive(mine)
    assert [(f["seq"], f["payload"]["i"]) for f in message["events"]] == [(1, 0), (2, 1), (3, 2)]
    assert [f["seq"] for f in receive(theirs)["events"]] == [1]
    assert not DeliveryAttempt.objects.exists()  # every socket took it: nothing to repair


def test_a_process_that_exits_right_after_emit_still_sends(thread):
    channel = listen(thread)
    code = (
        "import django, sys; django.setup(); from delivery import emit; "
        "emit(sys.argv[1], 'agent_completed', {'answer': 84})"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(thread.id)],
        cwd=ROOT, env=subprocess_env(), check=True, timeout=60,
    )  # fmt: skip
    assert [f["payload"] for f in receive(channel)["events"]] == [{"answer": 84}]
