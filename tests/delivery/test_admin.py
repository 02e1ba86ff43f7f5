"""The admin is no side door to delivery content (the console's reveal is audited instead)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from delivery import emit
from delivery.models import AccessToken, Event
from delivery.wire.tokens import issue_token
from tests.factories import ThreadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "my bank PIN is 4242"


@pytest.fixture
def event():
    thread = ThreadFactory(title="a private title")
    return emit(thread, "user_message", {"text": SECRET})


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _support_with_every_view_permission():
    """The attack's account: staff, and every delivery view permission a careless grant gives."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="delivery"))
    return user


def test_support_staff_cannot_open_an_event_in_admin(event):
    client = _client(_support_with_every_view_permission())

    page = client.get(f"/admin/delivery/event/{event.pk}/change/")
    listing = client.get("/admin/delivery/event/")

    assert page.status_code == 403 and listing.status_code == 403
    assert SECRET not in page.content.decode() + listing.content.decode()


def test_a_superuser_sees_no_payload_and_no_title(event):
    client = _client(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(f"/admin/delivery/event/{event.pk}/change/").content.decode()
    threads = client.get("/admin/delivery/thread/").content.decode()

    assert str(event.seq) in page and "user_message" in page
    assert SECRET not in page
    assert "a private title" not in threads


@pytest.mark.parametrize("model", ["event", "thread", "connection", "deliveryattempt"])
def test_ledger_tables_are_read_only_even_for_a_superuser(event, model):
    client = _client(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(f"/admin/delivery/{model}/add/").status_code == 403
    response = client.post(
        f"/admin/delivery/event/{event.pk}/change/", {"type": "agent_completed", "seq": 99}
    )
    assert response.status_code == 403
    assert Event.objects.get(pk=event.pk).type == "user_message"


def test_token_ids_never_appear_in_admin():
    issue_token(user=UserFactory())
    token = AccessToken.objects.get()
    client = _client(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get("/admin/delivery/accesstoken/")

    assert listing.status_code == 200
    assert str(token.pk) not in listing.content.decode()
    assert client.get(f"/admin/delivery/accesstoken/{token.pk}/change/").status_code == 403
