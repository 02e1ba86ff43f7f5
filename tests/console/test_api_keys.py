"""Admins create and revoke service API keys in the console; support cannot."""

import json
import re

import pytest

from delivery.models import ApiKey

pytestmark = pytest.mark.django_db


def _create(client, **fields):
    form = {"name": "billing", "scope": ["publish"], "per_minute": "600", **fields}
    return client.post("/console/api-keys/new", form)


def test_an_admin_creates_a_key_shown_once_that_publishes(admin, client, thread):
    response = _create(admin)

    assert response.status_code == 201
    key = re.search(r"llk_[\w-]+", response.content.decode()).group(0)
    assert key not in admin.get("/console/api-keys/").content.decode()  # shown once
    published = client.post(
        f"/api/v1/threads/{thread.id}/events", json.dumps({"type": "step"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}",
    )  # fmt: skip
    assert published.status_code == 201


def test_a_revoked_key_is_refused_at_once(admin, client, thread):
    key = re.search(r"llk_[\w-]+", _create(admin).content.decode()).group(0)

    admin.post(f"/console/api-keys/{ApiKey.objects.get().pk}/revoke")

    refused = client.post(
        f"/api/v1/threads/{thread.id}/events", json.dumps({"type": "step"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}",
    )  # fmt: skip
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "fields",
    [{"name": ""}, {"scope": []}, {"scope": ["admin"]}, {"per_minute": "lots"}, {"name": "a\x00"}],
)
def test_a_bad_form_is_refused_with_400_and_creates_nothing(admin, fields):
    response = _create(admin, **fields)

    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_support_cannot_see_or_create_keys(support):
    assert support.get("/console/api-keys/").status_code == 403
    assert _create(support).status_code == 403
    assert not ApiKey.objects.exists()


def test_creating_a_key_needs_csrf(admin_user, thread):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)

    assert _create(strict).status_code == 403
