"""Getting to the console: the top bar and the `make run` banner link it, staff land on it
after logging in, and canary runs have their own tab so the verification list shows full runs."""

import pytest
from django.utils import timezone

from config.run import banner
from monitoring.models import VerificationRun
from tests.console.conftest import staff
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-only"


def log_in(client, username: str, **extra: str):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD, **extra})


def test_console_staff_land_on_the_console_and_users_on_the_chat(client):
    staff("lead", "support")
    UserFactory(username="carol")
    assert log_in(client, "lead").url == "/console/"
    client.logout()
    assert log_in(client, "carol").url == "/"
    client.logout()
    assert log_in(client, "lead", next="/console/alerts/").url == "/console/alerts/"


def test_the_top_bar_links_the_console_for_staff_only(client):
    client.force_login(staff("lead", "support"))
    page = client.get("/console/").content.decode()
    topbar = page.split('<header class="topbar">')[1].split("</header>")[0]
    assert 'href="/console/">Console</a>' in topbar
    client.force_login(UserFactory(username="carol"))
    assert "Console</a>" not in client.get("/").content.decode()
    client.force_login(UserFactory(username="dave", is_staff=True))  # staff with no console role
    assert "Console</a>" not in client.get("/").content.decode()


def test_the_make_run_banner_names_the_console():
    assert "  console  http://127.0.0.1:8001/console/" in banner("http://127.0.0.1:8001/")


def test_canary_runs_have_their_own_tab(support):
    def run(trigger: str) -> VerificationRun:
        return VerificationRun.objects.create(trigger=trigger, ok=True, finished_at=timezone.now())

    full = run("startup")
    canaries = [run("canary") for _ in range(3)]
    listed = support.get("/console/verification/").content.decode()
    assert f"#{full.pk}</a>" in listed and all(f"#{c.pk}</a>" not in listed for c in canaries)
    tab = support.get("/console/verification/", {"kind": "canary"}).content.decode()
    assert all(f"#{c.pk}</a>" in tab for c in canaries) and f"#{full.pk}</a>" not in tab
