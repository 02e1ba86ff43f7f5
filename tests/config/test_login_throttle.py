"""Login throttling (django-axes): password guessing against one username from one address is
locked out, even once the right password comes, and nobody else is."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password"
LOGIN = "/accounts/login/"


def log_in(username: str, password: str, ip: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == settings.LOGIN_REDIRECT_URL


def test_guessing_a_password_locks_that_user_out_from_that_address():
    victim = UserFactory(username="victim", password=PASSWORD)
    answers = [log_in("victim", f"guess-{n}").status_code for n in range(6)]

    refused = log_in("victim", PASSWORD)

    assert settings.AXES_FAILURE_LIMIT == 5
    assert answers == [200, 200, 200, 200, 429, 429]  # the fifth failure locks
    assert refused.status_code == 429 and not logged_in(refused)
    assert "Too many failed logins" in refused.content.decode()
    assert "15 minutes" in refused.content.decode()
    assert "_auth_user_id" not in refused.client.session
    victim.refresh_from_db()
    assert victim.last_login is None


def test_other_users_and_other_addresses_are_unaffected():
    UserFactory(username="victim", password=PASSWORD)
    UserFactory(username="bystander", password=PASSWORD)
    for n in range(6):
        log_in("victim", f"guess-{n}")

    assert logged_in(log_in("bystander", PASSWORD))  # same address, another user
    assert logged_in(log_in("victim", PASSWORD, ip="198.51.100.9"))  # the user, elsewhere


def test_an_operator_lifts_the_lock_with_axes_reset():
    UserFactory(username="victim", password=PASSWORD)
    for n in range(6):
        log_in("victim", f"guess-{n}")
    assert log_in("victim", PASSWORD).status_code == 429

    call_command("axes_reset")

    assert logged_in(log_in("victim", PASSWORD))


def test_a_successful_login_clears_earlier_failures():
    UserFactory(username="forgetful", password=PASSWORD)
    for n in range(4):
        log_in("forgetful", f"typo-{n}")
    assert logged_in(log_in("forgetful", PASSWORD))

    answers = [log_in("forgetful", f"typo-again-{n}").status_code for n in range(4)]

    assert answers == [200, 200, 200, 200]  # counting starts again from zero


def test_the_admin_login_is_throttled_too():
    UserFactory(username="staffer", password=PASSWORD, is_staff=True)
    admin = Client(REMOTE_ADDR="203.0.113.8")
    for n in range(5):
        admin.post("/admin/login/", {"username": "staffer", "password": f"guess-{n}"})

    response = admin.post("/admin/login/", {"username": "staffer", "password": PASSWORD})

    assert response.status_code == 429
