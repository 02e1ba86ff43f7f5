"""HTTP fallback API (DESIGN "HTTP fallback"): the same ledger, for clients without a socket.

Authentication is the session (with CSRF on writes) or `Authorization: Bearer <token>`.
Errors are JSON: `{"error": code, "detail": text}` with a matching status.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from delivery import conf, connections, selectors, services
from delivery.connections import Progress, SentRange
from delivery.exceptions import DeliveryError, InvalidToken, ThreadNotFound
from delivery.models import Connection, ConnectionState, Transport, Trigger
from delivery.protocol import (
    MAX_CLIENT_ID_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_SEQ,
    FrameError,
    event_frame,
    parse_seq,
)
from delivery.tokens import user_for_token

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE = 500
LONG_POLL_STEP = 0.5


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
        rejected = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
        if rejected is not None:
            raise ApiError(403, "csrf_failed", "session requests must carry the CSRF token")
    return request.user


def _json_body(request: HttpRequest) -> dict[str, Any]:
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
    try:
        seq = parse_seq(_json_body(request).get("seq"), "seq")  # a JSON integer, as on the socket
    except FrameError as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    sent = connections.sent_watermark(thread_id=thread.id)
    if seq > sent:
        raise ApiError(400, "ack_beyond_sent", f"seq {seq} is beyond what was sent ({sent})")
    session = (
        Connection.objects.filter(
            thread=thread, state=ConnectionState.LIVE, transport=Transport.LONGPOLL
        )
        .order_by("-opened_at")
        .values_list("pk", flat=True)
        .first()
    )
    now = timezone.now()
    progress = Progress(thread.id, session, [], 0, seq, now)
    return {"acked": connections.record_progress([progress])}


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


def _open_poll(user: Any, thread_id: uuid.UUID, after: int) -> uuid.UUID:
    """Check ownership, then open (or keep alive) the thread's long-poll session."""
    thread = selectors.thread_for_user(thread_id=thread_id, user=user)
    return connections.poll_session(thread_id=thread.id, user_id=user.pk, after=after).pk


def _page(
    user: Any, thread_id: uuid.UUID, session: uuid.UUID, after: int, limit: int
) -> dict[str, Any]:
    thread = selectors.thread_for_user(thread_id=thread_id, user=user)
    events = list(
        selectors.events_after(
            thread_id=thread.id, after=after, limit=limit, since=thread.created_at
        )
    )
    frames = [event_frame(e) for e in events]
    if events:
        _record_poll(thread.id, session, [e.seq for e in events])
    page: dict[str, Any] = {"thread": str(thread.id), "last_seq": thread.last_seq, "events": frames}
    if after > thread.last_seq:
        page["resync"] = {"from": thread.last_seq, "to": after, "reason": "ahead_of_ledger"}
    else:
        first_available = frames[0]["seq"] if frames else thread.last_seq + 1
        if after < thread.last_seq and first_available > after + 1:
            page["resync"] = {"from": after, "to": first_available - 1, "reason": "retention"}
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


def _record_poll(thread_id: uuid.UUID, session: uuid.UUID, seqs: list[int]) -> None:
    """A poll that returned events is a send like any other: one attempt row per run of
    consecutive seqs (trigger `poll`) and the session's sent watermark, in one statement."""
    now = timezone.now()
    runs: list[SentRange] = []
    for seq in seqs:
        if runs and runs[-1].last + 1 == seq:
            runs[-1] = runs[-1]._replace(last=seq)
        else:
            runs.append(SentRange(Trigger.POLL, seq, seq, now))
    connections.record_progress([Progress(thread_id, session, runs, seqs[-1], 0, now)])


async def _long_poll(
    user: Any, thread_id: uuid.UUID, after: int, limit: int, wait: float
) -> dict[str, Any]:
    """Polls the ledger, not the channel layer: a fallback client holds no group membership
    and no layer buffer, and the first read checks ownership before anything else. The
    session is the thread's long-poll connection, so what it was sent is on record."""
    session = await database_sync_to_async(_open_poll)(user, thread_id, after)
    fetch = database_sync_to_async(_page)
    deadline = time.monotonic() + wait
    while True:
        page = await fetch(user, thread_id, session, after, limit)
        if page["events"] or "resync" in page or time.monotonic() >= deadline:
            return page
        await asyncio.sleep(min(LONG_POLL_STEP, max(0.0, deadline - time.monotonic())))
