import pytest
from django.contrib.auth.models import Group, Permission

from delivery import emit
from tests.factories import ThreadFactory, UserFactory

ROLES = {
    "support": ["view_console"],
    "admin": ["view_console", "replay_events", "run_verification", "manage_alerts"],
}


def role(name: str) -> Group:
    """The console group as migration 0002_roles makes it (transactional tests flush it)."""
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
    events = [emit(thread, "agent_step", {"n": i, "secret": "card 4242"}) for i in range(5)]
    for event in events[:3]:
        event.state, event.acked_at = "acked", event.created_at
        event.save()
    for event in events[3:]:
        event.state, event.attempts = "undelivered", 3
        event.undelivered_cause = "no ack after 3 sends"
        event.save()
    return thread
