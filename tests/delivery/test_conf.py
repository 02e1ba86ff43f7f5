"""Typed settings: defaults, overrides, and a system check that names what is wrong."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from agent import conf as agent_conf
from delivery import conf
from monitoring import conf as monitoring_conf


def test_defaults_apply_to_keys_a_project_leaves_out(settings):
    settings.LEDGERLINE = {"ACK_DEADLINE": 3}

    assert conf.current().ack_deadline == 3
    assert conf.current().retry_budget == conf.DeliverySettings().retry_budget


def test_a_misspelt_key_fails_the_check_with_a_suggestion(settings):
    settings.LEDGERLINE = {"ACK_DEADLNE": 3}

    errors = conf.current.check()

    assert [e.id for e in errors] == ["delivery.E001"]
    assert "unknown key 'ACK_DEADLNE' (did you mean 'ACK_DEADLINE'?)" in errors[0].msg
    with pytest.raises(ImproperlyConfigured, match="ACK_DEADLNE"):
        conf.current()


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("PING_TIMEOUT", -1.0, "PING_TIMEOUT must be at least 0.01"),
        ("RETRY_BUDGET", 2.5, "RETRY_BUDGET must be a number (int)"),
        ("ACK_DEADLINE", "8", "ACK_DEADLINE must be a number (float)"),
        ("MAX_FRAME_BYTES", True, "MAX_FRAME_BYTES must be a number (int)"),
        ("JWT_ALGORITHM", "HS512", "JWT_ALGORITHM must be one of '', 'HS256', 'RS256'"),
        ("JWT_AUDIENCE", 7, "JWT_AUDIENCE must be text"),
        ("JWT_ALGORITHM", "HS256", "JWT_ALGORITHM needs JWT_KEY and JWT_AUDIENCE"),
    ],
)
def test_a_bad_value_fails_the_check(settings, key, value, problem):
    settings.LEDGERLINE = {key: value}

    assert problem in conf.current.check()[0].msg


def test_manage_py_check_refuses_to_pass(settings):
    settings.LEDGERLINE_AGENT = {"BURST_MAX": 0}

    with pytest.raises(SystemCheckError, match=r"agent.E001.*BURST_MAX must be at least 1"):
        call_command("check")


def test_each_app_reads_only_its_own_block(settings):
    settings.LEDGERLINE = {**settings.LEDGERLINE, "CANARY_INTERVAL": 5}

    assert "unknown key 'CANARY_INTERVAL'" in conf.current.check()[0].msg
    assert monitoring_conf.current.check() == []
    assert agent_conf.current().burst_max >= 1
