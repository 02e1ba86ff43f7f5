"""The JSON wire protocol at `/ws/threads/<uuid>/` (docs/protocol.md).

Parsing is strict and total: any client frame either becomes a typed message or raises
`FrameError` with the error code the consumer sends back. Close codes are documented in
docs/protocol.md and stay stable.
"""

import json
from dataclasses import dataclass
from typing import Any

from delivery.text import PROBLEM, storable

MAX_SEQ = 2**53 - 1  # the largest integer every JSON client represents exactly


class CloseCode:
    """WebSocket close codes Ledgerline uses. 4xxx mirrors the HTTP status it resembles."""

    NORMAL = 1000
    GOING_AWAY = 1001
    BAD_REQUEST = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    HEARTBEAT_TIMEOUT = 4408
    FRAME_TOO_LARGE = 4413
    FLOODING = 4429
    SERVER_ERROR = 4500


class FrameError(Exception):
    """A client frame that is not valid protocol. `close` is set when the socket must close."""

    def __init__(self, code: str, detail: str, *, close: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.close = close


@dataclass(frozen=True)
class Ack:
    seq: int


@dataclass(frozen=True)
class Resume:
    after: int


@dataclass(frozen=True)
class Pong:
    t: Any


@dataclass(frozen=True)
class Message:
    text: str
    client_id: str


ClientFrame = Ack | Resume | Pong | Message

MAX_MESSAGE_CHARS = 8000
MAX_CLIENT_ID_CHARS = 100
MAX_TITLE_CHARS = 200


def parse_seq(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError("invalid_field", f"'{field}' must be an integer")
    if value < 0 or value > MAX_SEQ:
        raise FrameError("invalid_field", f"'{field}' must be between 0 and {MAX_SEQ}")
    return value


def _text(data: dict[str, Any], field: str, max_chars: int) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise FrameError("invalid_field", f"'{field}' must be a non-empty string")
    if len(value) > max_chars:
        raise FrameError("invalid_field", f"'{field}' is longer than {max_chars} characters")
    if not storable(value):
        raise FrameError("invalid_field", f"'{field}' {PROBLEM}")
    return value


def parse_message(data: dict[str, Any]) -> Message:
    """The user's turn, from a `message` frame or the HTTP API's body alike."""
    return Message(
        text=_text(data, "text", MAX_MESSAGE_CHARS),
        client_id=_text(data, "client_id", MAX_CLIENT_ID_CHARS),
    )


def parse_title(value: Any) -> str:
    """A thread's title: optional, at most MAX_TITLE_CHARS, storable."""
    if not isinstance(value, str) or len(value) > MAX_TITLE_CHARS:
        raise FrameError(
            "invalid_field", f"'title' must be a string of at most {MAX_TITLE_CHARS} characters"
        )
    if not storable(value):
        raise FrameError("invalid_field", f"'title' {PROBLEM}")
    return value


def parse_frame(text: str, *, max_bytes: int) -> ClientFrame:
    """Turn one client text frame into a message, or raise `FrameError`."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FrameError(
            "frame_too_large",
            f"frames are limited to {max_bytes} bytes",
            close=CloseCode.FRAME_TOO_LARGE,
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("bad_json", "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("not_an_object", "frame must be a JSON object")
    kind = data.get("type")
    if kind == "ack":
        return Ack(seq=parse_seq(data.get("seq"), "seq"))
    if kind == "resume":
        return Resume(after=parse_seq(data.get("after"), "after"))
    if kind == "pong":
        return Pong(t=data.get("t"))
    if kind == "message":
        return parse_message(data)
    raise FrameError("unknown_type", f"unknown frame type {str(kind)[:40]!r}")


def error_frame(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}
