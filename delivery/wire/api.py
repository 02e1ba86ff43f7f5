"""HTTP fallback API (docs/protocol.md, "HTTP fallback"): the same ledger, for clients without
a socket, served by the OpenAPI router of delivery/wire/openapi.py.

Authentication is the session (with CSRF on writes) or `Authorization: Bearer <token>`.
Errors are JSON: `{"error": code, "detail": text}` with a matching status.
"""

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Router

from delivery import conf
from delivery.fastpath.frames import event_frame
from delivery.ledger import budgets, progress, selectors, services
from delivery.ledger.progress import Progress
from delivery.models import ApiKey, KeyScope
from delivery.text import storable
from delivery.wire import resync, tokens
from delivery.wire.http import ApiError, client_user, int_field, json_body
from delivery.wire.protocol import FrameError, parse_message, parse_seq, parse_title
from delivery.wire.publishing import ServiceKey
from delivery.wire.schemas import (
    Acked,
    AckIn,
    Error,
    MessageIn,
    MessageOut,
    Page,
    ThreadList,
    ThreadOut,
    TitleIn,
    TokenIn,
    TokenOut,
    body,
)

MAX_PAGE = 500
TOKENS_PER_MINUTE = 30  # a frontend asks for one per page load or refresh, not per request
LONG_POLL_STEP = 0.5
router = Router(auth=client_user, tags=["clients"])
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 413: Error, 429: Error}


def thread_json(thread: Any) -> dict[str, Any]:
    return {
        "id": str(thread.id),
        "title": thread.title,
        "last_seq": thread.last_seq,
        "created_at": thread.created_at.isoformat(),
    }


@router.get("threads", response={200: ThreadList, **ERRORS}, summary="Your newest 100 threads")
def list_threads(request: HttpRequest) -> HttpResponse:
    user = request.auth  # type: ignore[attr-defined]
    return JsonResponse(
        {"threads": [thread_json(t) for t in selectors.threads_of(user=user)[:100]]}
    )


@router.post(
    "threads",
    response={201: ThreadOut, **ERRORS},
    summary="Start a thread",
    openapi_extra=body(TitleIn),
)
def create_thread(request: HttpRequest) -> HttpResponse:
    try:
        title = parse_title(json_body(request).get("title", ""))
    except FrameError as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    thread = services.create_thread(owner=request.auth, title=title)  # type: ignore[attr-defined]
    return JsonResponse(thread_json(thread), status=201)


@router.post(
    "threads/{uuid:thread_id}/ack",
    response={200: Acked, **ERRORS},
    summary="Acknowledge everything up to seq",
    openapi_extra=body(AckIn),
)
def ack(request: HttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    thread = selectors.thread_for_user(thread_id=thread_id, user=request.auth)  # type: ignore[attr-defined]
    try:
        seq = parse_seq(json_body(request).get("seq"), "seq")  # a JSON integer, as on the socket
    except FrameError as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    sent = progress.sent_watermark(thread_id=thread.id)
    if seq > sent:
        raise ApiError(400, "ack_beyond_sent", f"seq {seq} is beyond what was sent ({sent})")
    session = progress.live_poll_session(thread_id=thread.id)
    move = Progress(thread.id, session.pk if session else None, [], 0, seq, timezone.now())
    return JsonResponse({"acked": progress.record_progress([move])})


@router.post(
    "threads/{uuid:thread_id}/messages",
    response={200: MessageOut, 201: MessageOut, **ERRORS},
    summary="Post the user's turn (once per client_id)",
    openapi_extra=body(MessageIn),
)
def messages(request: HttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    thread = selectors.thread_for_user(thread_id=thread_id, user=request.auth)  # type: ignore[attr-defined]
    try:
        message = parse_message(json_body(request))
    except FrameError as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    event, created = services.post_message(
        thread=thread, text=message.text, client_id=message.client_id
    )
    answer = {"event": event_frame(event), "created": created}
    return JsonResponse(answer, status=201 if created else 200)


@router.post(
    "tokens",
    response={201: TokenOut, **ERRORS},
    summary="A short-lived token for this logged-in session, for a frontend served apart",
    openapi_extra=body(TokenIn),
)
def issue_token(request: HttpRequest) -> HttpResponse:
    """Only a browser session (with its CSRF token) is issued one: a token that could mint
    tokens would never expire. It lives SESSION_TOKEN_TTL seconds and is revocable."""
    if "Authorization" in request.headers:
        raise ApiError(403, "session_required", "tokens are issued to a logged-in session")
    user = request.auth  # type: ignore[attr-defined]
    label = json_body(request).get("label", "")
    if not isinstance(label, str) or len(label) > 100 or not storable(label):
        raise ApiError(400, "invalid_field", "'label' must be text of at most 100 characters")
    budgets.take(subject=f"user:{user.pk}", budget="tokens", limit=TOKENS_PER_MINUTE, window=60)
    ttl = conf.current().session_token_ttl
    token = tokens.issue_token(user=user, label=label or "session token", ttl=ttl)
    expires_at = timezone.now() + timedelta(seconds=ttl)
    return JsonResponse({"token": token, "expires_at": expires_at.isoformat()}, status=201)


def _open_poll(user: Any, thread_id: uuid.UUID, after: int) -> uuid.UUID:
    """Check ownership, then open (or keep alive) the thread's long-poll session."""
    thread = selectors.thread_for_user(thread_id=thread_id, user=user)
    return progress.poll_session(thread_id=thread.id, user_id=user.pk, after=after).pk


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
        progress.record_poll(thread_id=thread.id, session=session, seqs=[e.seq for e in events])
    page: dict[str, Any] = {"thread": str(thread.id), "last_seq": thread.last_seq, "events": frames}
    # The page's first event is the oldest retained after `after`: the socket's rule applies.
    first = frames[0]["seq"] if frames else None
    plan = resync.plan_resume(after=after, last=thread.last_seq, first_retained=first)
    if plan.resync is not None:
        page["resync"] = plan.resync.fields()
    return page


def _history(user: Any, thread_id: uuid.UUID, before: int, limit: int) -> dict[str, Any]:
    """A page back through the thread, newest first. A read only: nothing is recorded as
    sent, since a client acks only what its socket or long poll carried. `user` None is a
    service's `read` key, which may page any thread."""
    thread = selectors.thread_for_reader(thread_id=thread_id, user=user)
    since = thread.created_at
    page = selectors.events_before(thread_id=thread.id, before=before, limit=limit, since=since)
    return {
        "thread": str(thread.id),
        "last_seq": thread.last_seq,
        "first_retained": selectors.first_retained_seq(thread_id=thread.id, since=since),
        "events": [event_frame(e) for e in page],
    }


async def _read(request: HttpRequest, user: Any, thread_id: uuid.UUID) -> dict[str, Any]:
    query = request.GET
    limit = min(int_field(query.get("limit"), "limit", default=MAX_PAGE), MAX_PAGE) or 1
    if "before" in query:
        if "after" in query or "wait" in query:
            raise ApiError(400, "invalid_field", "'before' takes neither 'after' nor 'wait'")
        before = int_field(query.get("before"), "before")
        return await database_sync_to_async(_history)(user, thread_id, before, limit)
    if user is None:
        # Following a thread forward is delivery: it records sends the owner then acks.
        raise ApiError(400, "invalid_field", "an API key reads history: use ?before=N")
    after = int_field(query.get("after"), "after", default=0)
    wait = min(
        float(int_field(query.get("wait"), "wait", default=0)), conf.current().long_poll_seconds
    )
    return await _long_poll(user, thread_id, after, limit, wait)


@router.get(
    "threads/{uuid:thread_id}/events",
    auth=[ServiceKey(KeyScope.READ), client_user],
    response={200: Page, 400: Error, 401: Error, 404: Error, 429: Error},
    summary="Events after ?after=N (waiting up to ?wait= s), or history before ?before=N",
)
async def events(
    request: HttpRequest,
    thread_id: uuid.UUID,
    after: str | None = None,
    wait: str | None = None,
    before: str | None = None,
    limit: str | None = None,
) -> HttpResponse:
    """Events after `after`, waiting up to `wait` seconds for one (a long poll), or a page
    of history before `before`, newest first. The numbers are read as the socket reads them.
    A `read` API key pages any thread's history."""
    reader = request.auth  # type: ignore[attr-defined]
    user = None if isinstance(reader, ApiKey) else reader
    return JsonResponse(await _read(request, user, thread_id))


async def _long_poll(
    user: Any, thread_id: uuid.UUID, after: int, limit: int, wait: float
) -> dict[str, Any]:
    """Polls the ledger, not the channel layer: a fallback client holds no group membership
    and no layer buffer, and the first read checks ownership before anything else. The
    session is the thread's long-poll connection, so what it was sent is on record."""
    session = await database_sync_to_async(_open_poll)(user, thread_id, after)
    fetch = database_sync_to_async(_page)
    page = await fetch(user, thread_id, session, after, limit)
    if page["events"] or "resync" in page or wait <= 0:
        return page
    deadline = time.monotonic() + wait
    async with budgets.waiting_poll(user_id=user.pk):  # only a poll that waits holds a place
        while True:
            await asyncio.sleep(min(LONG_POLL_STEP, max(0.0, deadline - time.monotonic())))
            page = await fetch(user, thread_id, session, after, limit)
            if page["events"] or "resync" in page or time.monotonic() >= deadline:
                return page
