"""The JSON API described by OpenAPI (django-ninja): schema at /api/schema/, docs at /api/docs/.

Errors keep the shape of the rest of the API, `{"error": code, "detail": text}`, whatever
raised them: a domain error, a schema violation, a missing or wrong credential.
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from delivery.exceptions import (
    DeliveryError,
    IdempotencyConflict,
    InvalidToken,
    LedgerWriteFailed,
    RateLimited,
    ThreadNotFound,
)
from delivery.wire import api as clients
from delivery.wire import publishing
from delivery.wire.http import ApiError, error_response

MAX_BODY_BYTES = 1024 * 1024  # a batch of events, each within MAX_PAYLOAD_BYTES


class LimitedParser(Parser):
    """JSON bodies up to MAX_BODY_BYTES, refused before they are parsed."""

    def parse_body(self, request: HttpRequest) -> Any:
        if len(request.body) > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json", "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "not_an_object", "body must be a JSON object")
        return body


api = NinjaAPI(
    title="Ledgerline API",
    version="1",
    description="Publish agent events, read a thread's history and presence. "
    'Errors are `{"error": code, "detail": text}`.',
    urls_namespace="ledgerline-api",
    openapi_url="/schema/",
    docs_url="/docs/",
    parser=LimitedParser(),
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.detail)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "body"
    return error_response(400, "invalid_field", f"{where}: {first.get('msg', 'invalid')}")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(401, "unauthenticated", "send 'Authorization: Bearer <key or token>'")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ApiError):  # the body parser's own refusal, wrapped by ninja
        return _api_error(request, exc.__cause__)
    return error_response(exc.status_code, "bad_request", str(exc))


@api.exception_handler(InvalidToken)
def _invalid_token(request: HttpRequest, exc: InvalidToken) -> HttpResponse:
    return error_response(401, "invalid_token", str(exc))


@api.exception_handler(ThreadNotFound)
def _not_found(request: HttpRequest, exc: ThreadNotFound) -> HttpResponse:
    return error_response(404, "not_found", "no such thread")


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = error_response(429, exc.code, str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(LedgerWriteFailed)
def _not_recorded(request: HttpRequest, exc: LedgerWriteFailed) -> HttpResponse:
    return error_response(503, "ledger_write_failed", "not recorded; try again shortly")


@api.exception_handler(IdempotencyConflict)
def _conflict(request: HttpRequest, exc: IdempotencyConflict) -> HttpResponse:
    return error_response(409, exc.code, str(exc))


@api.exception_handler(DeliveryError)
def _refused(request: HttpRequest, exc: DeliveryError) -> HttpResponse:
    return error_response(400, exc.code, str(exc))


api.add_router("", clients.router)
api.add_router("", publishing.router)
