"""The chat page: thin function views over delivery's services and selectors."""

import uuid

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, transcript
from delivery import conf
from delivery.exceptions import DeliveryError, RateLimited, ThreadNotFound
from delivery.ledger import services
from delivery.ledger.selectors import thread_for_user
from delivery.models import Thread
from delivery.wire.protocol import MAX_CLIENT_ID_CHARS, MAX_MESSAGE_CHARS


class AuthenticatedRequest(HttpRequest):
    """What `login_required` guarantees: `request.user` is a signed-in user."""

    user: User


SUGGESTIONS = ["what is 12*7", "what time is it?", "how does resume work?", "/burst 500"]


def _own_thread(request: AuthenticatedRequest, thread_id: uuid.UUID) -> Thread:
    try:
        return thread_for_user(thread_id=thread_id, user=request.user)
    except ThreadNotFound:
        raise Http404("no such thread") from None


@require_GET
@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    """The user's threads; the newest one opens on the right, or an invitation to start one."""
    threads = selectors.thread_list(user=request.user)
    return render(request, "chat/chat.html", {"threads": threads, "thread": None})


@require_POST
@login_required
def new_thread(request: AuthenticatedRequest) -> HttpResponse:
    try:
        thread = services.create_thread(owner=request.user, title=request.POST.get("title", ""))
    except DeliveryError as exc:
        return HttpResponse(f"Could not start a thread: {exc}", status=400)
    return redirect("chat:thread", thread_id=thread.id)


@require_GET
@login_required
def thread_page(request: AuthenticatedRequest, thread_id: uuid.UUID) -> HttpResponse:
    thread = _own_thread(request, thread_id)
    opening = selectors.opening(thread=thread)
    if opening.events:
        first, last = opening.events[0].seq, opening.rendered_seq
        services.record_page_delivery(thread=thread, first=first, last=last)
    delivery = conf.current()
    context = {
        "threads": selectors.thread_list(user=request.user),
        "thread": thread,
        "items": transcript.fold(opening.events),
        "opening": opening,
        "heading": thread.title or selectors.first_message(thread=thread),
        "client_id": uuid.uuid4(),
        "suggestions": SUGGESTIONS,
        "max_chars": MAX_MESSAGE_CHARS,
        # The client's watchdog: a socket silent this long is dead (docs/protocol.md, `ping`).
        "silence_ms": round((delivery.ping_interval + delivery.ping_timeout) * 1000),
    }
    return render(request, "chat/chat.html", context)


@require_POST
@login_required
def post_message(request: AuthenticatedRequest, thread_id: uuid.UUID) -> HttpResponse:
    """The no-JavaScript path for the composer; the page's script posts to the API instead."""
    thread = _own_thread(request, thread_id)
    text = request.POST.get("text", "").strip()[:MAX_MESSAGE_CHARS]
    client_id = request.POST.get("client_id", "")[:MAX_CLIENT_ID_CHARS] or str(uuid.uuid4())
    if text:
        try:
            services.post_message(thread=thread, text=text, client_id=client_id)
        except RateLimited as exc:
            response = HttpResponse(f"Not sent: {exc}", status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except DeliveryError as exc:
            return HttpResponse(f"Could not send: {exc}", status=400)
    return redirect("chat:thread", thread_id=thread.id)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links; send them the static one."""
    return HttpResponsePermanentRedirect(static("chat/favicon.ico"))
