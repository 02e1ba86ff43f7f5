"""HTTP fallback API (DESIGN "HTTP fallback"): the same ledger, for clients without a socket.

Authentication is the session (with CSRF on writes) or `Authorization: Bearer <token>`.
Errors are JSON: `{"error": code, "detail": text}` with a matching status.
"""

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from delivery import conf, connections, selectors, services
from delivery.exceptions import DeliveryError, InvalidToken, ThreadNotFound
from delivery.fanout import group_name
from delivery.protocol import MAX_CLIENT_ID_CHARS, MAX_MESSAGE_CHARS, MAX_SEQ, event_frame
from delivery.tokens import user_for_token

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE = 500


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def error_response(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _authenticate(request: HttpRequest) -> Any:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <token>'")
        try:
            return user_for_token(token.strip())
        except InvalidToken as exc:
            raise ApiError(401, "invalid_token", str(exc)) from None
    if not request.user.is_authenticated:
        raise ApiError(401, "unauthenticated", "log in, or send a bearer token")
    if request.method == "POST":
        rejected = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(
            request, _no_view, (), {}
        )
        if rejected is not None:
            raise ApiError(403, "csrf_failed", "session requests must carry the CSRF token")
    return request.user


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", "body must be a JSON object")
    return data


def _int_field(value: Any, field: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_field", f"'{field}' must be an integer") from None
    if isinstance(value, bool | float) or not 0 <= number <= MAX_SEQ:
        raise ApiError(400, "invalid_field", f"'{field}' must be an integer from 0 to {MAX_SEQ}")
    return number


def api_view(view: Callable[..., dict[str, Any] | JsonResponse]) -> Callable[..., HttpResponse]:
    """Authenticates, maps domain errors to JSON statuses and serialises the result."""

    @csrf_exempt  # enforced in _authenticate for session users only
    def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            user = _authenticate(request)
            result = view(request, user, **kwargs)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.detail)
        except ThreadNotFound:
            return error_response(404, "not_found", "no such thread")
        except DeliveryError as exc:
            return error_response(400, exc.code, str(exc))
        return result if isinstance(result, HttpResponse) else JsonResponse(result)

    return wrapped


def thread_json(thread: Any) -> dict[str, Any]:
    return {
        "id": str(thread.id),
        "title": thread.title,
        "last_seq": thread.last_seq,
        "created_at": thread.created_at.isoformat(),
    }


@require_http_methods(["GET", "POST"])
@api_view
def threads(request: HttpRequest, user: Any) -> dict[str, Any] | JsonResponse:
    if request.method == "GET":
        return {"threads": [thread_json(t) for t in selectors.threads_of(user=user)[:100]]}
    title = _json_body(request).get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise ApiError(400, "invalid_field", "'title' must be a string of at most 200 characters")
    return JsonResponse(thread_json(services.create_thread(owner=user, title=title)), status=201)


@require_POST
@api_view
def ack(request: HttpRequest, user: Any, thread_id: uuid.UUID) -> dict[str, Any]:
    thread = selectors.thread_for_user(thread_id=thread_id, user=user)
    seq = _int_field(_json_body(request).get("seq"), "seq")
    if seq > thread.last_seq:
        raise ApiError(
            400, "ack_beyond_sent", f"seq {seq} is beyond the thread's {thread.last_seq}"
        )
    return {"acked": connections.record_ack(thread_id=thread.id, upto=seq)}


@require_POST
@api_view
def messages(request: HttpRequest, user: Any, thread_id: uuid.UUID) -> JsonResponse:
    thread = selectors.thread_for_user(thread_id=thread_id, user=user)
    body = _json_body(request)
    text, client_id = body.get("text"), body.get("client_id")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
        raise ApiError(400, "invalid_field", f"'text' must be 1 to {MAX_MESSAGE_CHARS} characters")
    if (
        not isinstance(client_id, str)
        or not client_id.strip()
        or len(client_id) > MAX_CLIENT_ID_CHARS
    ):
        raise ApiError(400, "invalid_field", "'client_id' must be a non-empty string")
    event, created = services.post_message(thread=thread, text=text, client_id=client_id)
    return JsonResponse(
        {"event": event_frame(event), "created": created}, status=201 if created else 200
    )


def _page(user: Any, thread_id: uuid.UUID, after: int, limit: int) -> dict[str, Any]:
    thread = selectors.thread_for_user(thread_id=thread_id, user=user)
    frames = [
        event_frame(e)
        for e in selectors.events_after(thread_id=thread.id, after=after, limit=limit)
    ]
    page: dict[str, Any] = {"thread": str(thread.id), "last_seq": thread.last_seq, "events": frames}
    if after > thread.last_seq:
        page["resync"] = {"from": thread.last_seq, "to": after, "reason": "ahead_of_ledger"}
    elif frames and frames[0]["seq"] > after + 1:
        page["resync"] = {"from": after, "to": frames[0]["seq"] - 1, "reason": "retention"}
    return page


@require_GET
async def events(request: HttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    """Events after `?after=N`. With none yet, waits up to `?wait=` seconds (a long poll)."""
    try:
        user = await sync_to_async(_authenticate)(request)
        after = _int_field(request.GET.get("after"), "after", default=0)
        limit = min(_int_field(request.GET.get("limit"), "limit", default=MAX_PAGE), MAX_PAGE) or 1
        wait = min(
            float(_int_field(request.GET.get("wait"), "wait", default=0)),
            conf.timing("LONG_POLL_SECONDS"),
        )
        page = await _long_poll(user, thread_id, after, limit, wait)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.detail)
    except ThreadNotFound:
        return error_response(404, "not_found", "no such thread")
    return JsonResponse(page)


async def _long_poll(
    user: Any, thread_id: uuid.UUID, after: int, limit: int, wait: float
) -> dict[str, Any]:
    fetch = sync_to_async(_page)
    layer = get_channel_layer()
    if wait <= 0 or layer is None:
        return await fetch(user, thread_id, after, limit)
    # Subscribe before reading, as the consumer does, so nothing committed in between is missed.
    channel = await layer.new_channel()
    await layer.group_add(group_name(thread_id), channel)
    try:
        page = await fetch(user, thread_id, after, limit)
        if not page["events"] and "resync" not in page:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(layer.receive(channel), timeout=wait)
            page = await fetch(user, thread_id, after, limit)
        return page
    finally:
        await layer.group_discard(group_name(thread_id), channel)
