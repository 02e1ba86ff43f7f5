import pytest
from django.core import signing
from django.core.management import CommandError, call_command

from delivery.exceptions import InvalidToken
from delivery.models import AccessToken
from delivery.wire.tokens import issue_token, revoke_token, user_for_token

pytestmark = pytest.mark.django_db


def test_token_resolves_to_its_user(user):
    assert user_for_token(issue_token(user=user)) == user


def test_expired_token_is_refused(user):
    token = issue_token(user=user, ttl=-1)
    with pytest.raises(InvalidToken):
        user_for_token(token)


def test_revoked_token_is_refused(user):
    token = issue_token(user=user)
    revoke_token(token_id=AccessToken.objects.get(user=user).id)
    with pytest.raises(InvalidToken):
        user_for_token(token)


def test_tampered_token_is_refused(user):
    token = issue_token(user=user)
    forged = signing.dumps(str(AccessToken.objects.get().id), salt="another-salt")
    for bad in [token[:-2] + "xx", forged, "", "a.b.c"]:
        with pytest.raises(InvalidToken):
            user_for_token(bad)


def test_inactive_users_token_is_refused(user):
    token = issue_token(user=user)
    user.is_active = False
    user.save()
    with pytest.raises(InvalidToken):
        user_for_token(token)


def test_issue_token_command_prints_a_working_token(user, capsys):
    call_command("issue_token", user.username)
    assert user_for_token(capsys.readouterr().out.strip()) == user


@pytest.mark.parametrize("args", [["nobody"], ["{user}", "--ttl", "0"]])
def test_issue_token_command_refuses_bad_arguments(user, args):
    with pytest.raises(CommandError):
        call_command("issue_token", *[a.format(user=user.username) for a in args])
