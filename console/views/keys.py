"""Service API keys: admins create them (the key is shown once) and revoke them."""

import uuid
from typing import Any

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console import access, selectors, services
from console.exceptions import ConsoleError
from console.rendering import HtmxHttpRequest, page, shows_errors


def _keys_page(request: HtmxHttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"keys": selectors.api_keys(), "scopes": services.KEY_SCOPES, **extra}
    return page(request, "console/api_keys.html", context, status=status)


def _refused(request: HtmxHttpRequest, exc: ConsoleError) -> HttpResponse:
    return _keys_page(request, error=str(exc), status=exc.status)


@require_GET
@access.console_page(access.KEYS)
def api_keys(request: HtmxHttpRequest) -> HttpResponse:
    return _keys_page(request)


@require_POST
@access.console_page(access.KEYS)
@shows_errors(_refused)
def create_key(request: HtmxHttpRequest) -> HttpResponse:
    record, key = services.create_api_key(
        name=request.POST.get("name", ""),
        scopes=request.POST.getlist("scope"),
        per_minute=request.POST.get("per_minute", "600"),
        actor=access.operator(request),
    )
    return _keys_page(request, status=201, created=record, key=key)


@require_POST
@access.console_page(access.KEYS)
def revoke_key(request: HtmxHttpRequest, key_id: uuid.UUID) -> HttpResponse:
    services.revoke_api_key(key_id=key_id)
    return HttpResponseRedirect(reverse("console:api-keys"))
