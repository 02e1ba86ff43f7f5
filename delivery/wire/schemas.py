"""The shapes of the clients' JSON API, for its OpenAPI schema (`/api/schema/`).

The views write these answers themselves, byte for byte as they always have; the schemas
say what those answers and bodies are.
"""

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema


class ThreadOut(Schema):
    id: uuid.UUID
    title: str
    last_seq: int
    created_at: datetime


class ThreadList(Schema):
    threads: list[ThreadOut] = Field(description="your newest 100")


class EventFrame(Schema):
    type: str = "event"
    seq: int
    id: uuid.UUID
    event: str
    payload: dict[str, Any]
    ts: datetime
    replay: bool


class Resync(Schema):
    from_: int = Field(alias="from")
    to: int
    reason: str = Field(description="ahead_of_ledger or retention")


class Page(Schema):
    thread: uuid.UUID
    last_seq: int
    events: list[EventFrame]
    resync: Resync | None = None
    first_retained: int | None = Field(None, description="with ?before= only")


class TitleIn(Schema):
    title: str = Field("", max_length=200)


class AckIn(Schema):
    seq: int = Field(ge=0, description="cumulative: everything up to it was rendered")


class Acked(Schema):
    acked: int = Field(description="the events this ack settled")


class MessageIn(Schema):
    text: str = Field(min_length=1, max_length=8000)
    client_id: str = Field(min_length=1, max_length=100, description="a retry reuses it")


class MessageOut(Schema):
    event: EventFrame
    created: bool = Field(description="false when client_id repeated an earlier message")


class TokenIn(Schema):
    label: str = Field(default="", max_length=100, description="shown to operators")


class TokenOut(Schema):
    token: str = Field(description="send as `?token=` on the socket or `Authorization: Bearer`")
    expires_at: datetime


class Error(Schema):
    error: str
    detail: str


def body(schema: type[Schema]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body the view reads itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }
