"""The chat page: thin function views over delivery's services and selectors."""

import uuid

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, transcript
from delivery import services
from delivery.exceptions import DeliveryError, ThreadNotFound
from delivery.models import Thread
from delivery.protocol import MAX_CLIENT_ID_CHARS, MAX_MESSAGE_CHARS
from delivery.selectors import thread_for_user


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
    thread = services.create_thread(owner=request.user, title=request.POST.get("title", ""))
    return redirect("chat:thread", thread_id=thread.id)


@require_GET
@login_required
def thread_page(request: AuthenticatedRequest, thread_id: uuid.UUID) -> HttpResponse:
    thread = _own_thread(request, thread_id)
    events, rendered_seq = selectors.history(thread=thread)
    if events:
        services.record_page_delivery(thread=thread, first=events[0].seq, last=rendered_seq)
    items = transcript.fold(events)
    context = {
        "threads": selectors.thread_list(user=request.user),
        "thread": thread,
        "items": items,
        "heading": thread.title or transcript.first_message(items),
        "rendered_seq": rendered_seq,
        "client_id": uuid.uuid4(),
        "suggestions": SUGGESTIONS,
        "max_chars": MAX_MESSAGE_CHARS,
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
        except DeliveryError as exc:
            return HttpResponse(f"Could not send: {exc}", status=400)
    return redirect("chat:thread", thread_id=thread.id)
