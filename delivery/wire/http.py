"""What every JSON endpoint shares: who is asking, the body, the numbers, the error shape.

Errors are `{"error": code, "detail": text}` with a matching status, raised as `ApiError`.
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from delivery.exceptions import InvalidToken
from delivery.wire.apikeys import is_api_key
from delivery.wire.protocol import MAX_SEQ
from delivery.wire.tokens import user_for_token

MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def error_response(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def client_user(request: HttpRequest) -> Any:
    """The user behind a request: a bearer token, else the session (with CSRF on writes).
    Raises `ApiError` (401, or 403 for a session write without its CSRF token)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <token>'")
        if is_api_key(token.strip()):
            raise ApiError(401, "invalid_token", "API keys publish; clients use their own token")
        try:
            return user_for_token(token.strip())
        except InvalidToken as exc:
            raise ApiError(401, "invalid_token", str(exc)) from None
    if not request.user.is_authenticated:
        raise ApiError(401, "unauthenticated", "log in, or send a bearer token")
    if request.method == "POST":
        rejected = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
        if rejected is not None:
            raise ApiError(403, "csrf_failed", "session requests must carry the CSRF token")
    return request.user


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    if length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", "body must be a JSON object")
    return data


def int_field(value: Any, field: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_field", f"'{field}' must be an integer") from None
    if isinstance(value, bool | float) or not 0 <= number <= MAX_SEQ:
        raise ApiError(400, "invalid_field", f"'{field}' must be an integer from 0 to {MAX_SEQ}")
    return number
