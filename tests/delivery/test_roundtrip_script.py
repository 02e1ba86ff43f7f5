"""The README flow: `scripts/roundtrip.py` logs in and gets its own event back from real daphne."""

import subprocess
import sys

import pytest

from delivery.models import Event
from tests.factories import UserFactory
from tests.processes import ROOT, free_port, start_daphne, stop, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


def test_roundtrip_script_gets_its_event_back_and_acks_it(tmp_path):
    UserFactory(username="demo", password="a-demo-password")
    port = free_port()
    daphne = start_daphne(port, tmp_path / "daphne.log")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "scripts/roundtrip.py",
                "--url",
                f"http://127.0.0.1:{port}",
                "--password",
                "a-demo-password",
            ],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        stop(daphne)
    assert result.returncode == 0, result.stderr
    assert "ok: user_message #1" in result.stdout
    event = Event.objects.get(type="user_message")
    assert event.thread.owner.username == "demo"
    assert event.thread.acked_seq >= event.seq
