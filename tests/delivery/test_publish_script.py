"""`scripts/publish_roundtrip.py`, the black-box check a service team runs: against a real
daphne, over plain HTTP, a batch published with an API key is read back with `?before=`."""

import subprocess
import sys
from pathlib import Path

import pytest

from delivery.models import ApiKey, Event, Publication
from delivery.wire.apikeys import create_api_key
from delivery.wire.tokens import issue_token
from tests.processes import free_port, start_daphne, stop, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "publish_roundtrip.py"


def test_the_script_publishes_a_batch_and_reads_it_back(user, tmp_path):
    _, key = create_api_key(name="script", scopes=["publish", "read"])
    port = free_port()
    web = start_daphne(port, tmp_path / "web.log")
    try:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--url", f"http://127.0.0.1:{port}",
             "--key", key, "--token", issue_token(user=user), "--events", "7"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        stop(web)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "round trip complete" in done.stdout
    assert "Idempotency-Key" in done.stdout and key not in done.stdout  # the key is not echoed
    assert Event.objects.filter(type="step").count() == 7  # the retry created nothing
    assert Publication.objects.get().api_key.name == "script"


def test_without_a_key_the_script_makes_its_own_with_manage_py(user, tmp_path):
    """Beside `make run`: it creates a publish-and-read key (and a token for `demo`) itself."""
    user.username = "demo"
    user.save()
    port = free_port()
    web = start_daphne(port, tmp_path / "web.log")
    try:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--url", f"http://127.0.0.1:{port}", "--events", "3"],
            capture_output=True, text=True, timeout=90, check=False, env=subprocess_env(),
            cwd=SCRIPT.parents[1],
        )  # fmt: skip
    finally:
        stop(web)
    assert done.returncode == 0, done.stdout + done.stderr
    made = ApiKey.objects.get()
    assert made.name.startswith("roundtrip-") and sorted(made.scopes) == ["publish", "read"]
    assert Publication.objects.get().api_key == made
    assert made.prefix not in done.stdout  # the key it made is never printed


def test_the_script_refuses_a_url_that_is_not_http(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--url", "file:///etc/passwd", "--key", "k", "--token", "t"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "http://" in done.stderr
