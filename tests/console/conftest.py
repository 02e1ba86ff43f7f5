import pytest
from django.contrib.auth.models import Group, Permission

from delivery import emit
from delivery.models import Trigger, UndeliveredRange
from tests.factories import ThreadFactory, UserFactory
from tests.ledger import ack, sent

ROLES = {
    "support": ["view_console"],
    "admin": [
        "view_console",
        "replay_events",
        "run_verification",
        "manage_alerts",
        "manage_api_keys",
    ],
}


def role(name: str) -> Group:
    """The console group as its migrations make it (transactional tests flush it)."""
    group, _ = Group.objects.get_or_create(name=name)
    group.permissions.set(
        Permission.objects.filter(content_type__app_label="console", codename__in=ROLES[name])
    )
    return group


def staff(username: str, *groups: str, extra: tuple[str, ...] = ()):
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(*(role(g) for g in groups))
    if extra:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="console", codename__in=extra)
        )
    return user


@pytest.fixture
def support_user(db):
    return staff("support-staff", "support")


@pytest.fixture
def admin_user(db):
    return staff("admin-staff", "admin")


@pytest.fixture
def support(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def troubled_thread(db):
    """alice's thread: three events acked, two undelivered after the retry budget ran out."""
    alice = UserFactory(username="alice", email="alice@example.test")
    thread = ThreadFactory(owner=alice, title="refund question")
    for i in range(5):
        emit(thread, "agent_step", {"n": i, "secret": "card 4242"})
    sent(thread, 1, 5)
    ack(thread, 3)
    for _ in range(2):
        sent(thread, 4, 5, trigger=Trigger.RETRY)
    UndeliveredRange.objects.create(
        thread=thread, first_seq=4, last_seq=5, cause="no ack after 3 sends"
    )
    thread.refresh_from_db()
    return thread
