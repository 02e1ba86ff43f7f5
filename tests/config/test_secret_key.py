"""No constant SECRET_KEY: the entry points refuse to start without one, and the embedded
mode makes a random one once and keeps it."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from config import embedded

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = {
    "manage.py": [sys.executable, "manage.py", "check"],
    "daphne": [sys.executable, "-m", "config.serve", "-p", "0", "config.asgi:application"],
    "celery": [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "--pool=solo"],
}


def _without_key(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings.base", **extra}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_refuses_to_start_without_a_key(entry):
    result = subprocess.run(
        ENTRY_POINTS[entry], cwd=ROOT, env=_without_key(DEBUG="0"), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.django_db
def test_a_token_forged_with_the_old_constant_key_is_refused(settings):
    """The attack: sign a known token row id with the key the repository once carried."""
    from django.core import signing

    from delivery.exceptions import InvalidToken
    from delivery.wire.tokens import issue_token, user_for_token
    from tests.factories import UserFactory

    real = issue_token(user=UserFactory())
    token_id = signing.loads(real, salt="ledgerline.access-token")
    old = "ledgerline-development-only-secret-do-not-deploy"
    forged = signing.dumps(token_id, key=old, salt="ledgerline.access-token", compress=False)

    assert user_for_token(real)
    with pytest.raises(InvalidToken):
        user_for_token(forged)


def test_embedded_mode_makes_a_private_key_once_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "RUN_DIR", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)

    embedded.provide_secret_key()
    first = os.environ["SECRET_KEY"]
    monkeypatch.delenv("SECRET_KEY")
    embedded.provide_secret_key()

    path = tmp_path / "secret-key"
    assert os.environ["SECRET_KEY"] == first and len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_in_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "RUN_DIR", tmp_path)
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")

    embedded.provide_secret_key()

    assert os.environ["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "secret-key").exists()


def test_no_key_is_committed_anywhere():
    """Every tracked file but the tests: no SECRET_KEY assigned a literal value."""
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    literal = re.compile(r"SECRET_KEY\s*[=:]\s*[\"']?[A-Za-z0-9_\-]{8,}")
    found = [
        f"{name}:{n}: {line.strip()}"
        for name in files
        if not name.startswith("tests/") and name != "uv.lock" and (root / name).is_file()
        for n, line in enumerate((root / name).read_text(errors="replace").splitlines(), 1)
        if literal.search(line) and "get_random_secret_key()" not in line
    ]
    assert found == []
