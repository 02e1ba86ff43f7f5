"""Producers in any language: publish events over HTTP with an API key, and see who is there.

    POST /api/v1/threads/<id>/events        {"type", "payload", "critical"}
    POST /api/v1/threads/<id>/events/batch  {"events": [...]}
    GET  /api/threads/<id>/presence

An `Idempotency-Key` header makes a retry answer with the events the first call created
(200 instead of 201); the same key with other events is refused with 409
`idempotency_conflict`. Every publication is recorded against the key that made it.
"""

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer, django_auth

from delivery.ledger import progress, selectors, services
from delivery.models import ApiKey, Event, KeyScope
from delivery.wire import apikeys
from delivery.wire.schemas import Error
from delivery.wire.tokens import user_for_token

router = Router()
MAX_BATCH = 500
ERRORS = (400, 401, 404, 409, 413, 429, 503)  # 409: an Idempotency-Key used for other events


class ServiceKey(HttpBearer):
    """`Authorization: Bearer llk_...` with the given scope."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        if not apikeys.is_api_key(token):
            return None
        return apikeys.key_for(token, scope=self.scope)


class UserToken(HttpBearer):
    """A user's own token (`manage.py issue_token`): reaches only the user's threads."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return None if apikeys.is_api_key(token) else user_for_token(token)


class EventIn(Schema):
    type: str = Field(description="lowercase, digits and `_.:-`, at most 64 characters")
    payload: dict[str, Any] = Field(default_factory=dict)
    critical: bool = True


class BatchIn(Schema):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventOut(Schema):
    seq: int
    id: uuid.UUID
    type: str
    created_at: datetime


class Published(Schema):
    thread: uuid.UUID
    created: bool = Field(description="false when an Idempotency-Key repeated an earlier call")
    events: list[EventOut]


class Presence(Schema):
    connection: uuid.UUID
    transport: str
    since: datetime
    last_pong: datetime | None


PUBLISHED: dict[int, Any] = {200: Published, 201: Published, **dict.fromkeys(ERRORS, Error)}


def _publish(request: HttpRequest, thread_id: uuid.UUID, events: list[EventIn]) -> Any:
    published, created = services.publish(
        api_key=request.auth,  # type: ignore[attr-defined]
        thread_id=thread_id,
        items=[(event.type, event.payload) for event in events],
        critical=[event.critical for event in events],
        idempotency_key=request.headers.get("Idempotency-Key") or None,
    )
    body = {"thread": thread_id, "created": created, "events": [_event_out(e) for e in published]}
    return Status(201 if created else 200, body)


def _event_out(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "id": event.event_id,
        "type": event.type,
        "created_at": event.created_at,
    }


@router.post(
    "v1/threads/{uuid:thread_id}/events",
    auth=ServiceKey(KeyScope.PUBLISH),
    response=PUBLISHED,
    summary="Publish one event",
)
def publish_event(request: HttpRequest, thread_id: uuid.UUID, event: EventIn) -> Any:
    return _publish(request, thread_id, [event])


@router.post(
    "v1/threads/{uuid:thread_id}/events/batch",
    auth=ServiceKey(KeyScope.PUBLISH),
    response=PUBLISHED,
    summary="Publish events in one transaction, one message to the clients",
)
def publish_batch(request: HttpRequest, thread_id: uuid.UUID, batch: BatchIn) -> Any:
    return _publish(request, thread_id, batch.events)


@router.get(
    "threads/{uuid:thread_id}/presence",
    auth=[ServiceKey(KeyScope.READ), UserToken(), django_auth],
    response=list[Presence],
    summary="The thread's live connections",
)
def presence(request: HttpRequest, thread_id: uuid.UUID) -> Any:
    if not isinstance(request.auth, ApiKey):  # type: ignore[attr-defined]
        selectors.thread_for_user(thread_id=thread_id, user=request.auth)  # type: ignore[attr-defined]
    return progress.presence(thread_id=thread_id)
