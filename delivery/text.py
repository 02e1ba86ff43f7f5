"""Text that PostgreSQL cannot store, refused where it comes in.

PostgreSQL's text and jsonb refuse the NUL character, and UTF-8 has no encoding for a lone
surrogate (one half of a UTF-16 pair, which JSON's \\ud800 escapes can carry). Either would
reach the database as an error; each interface refuses it up front as `invalid_field` instead.
"""

import re
from typing import Any, TypeVar

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
PROBLEM = "contains a NUL character or an unpaired surrogate, which cannot be stored"
CODE = "invalid_field"  # what every entrance answers, whatever its other errors are called

E = TypeVar("E", bound=Exception)


def unstorable(error: type[E], what: str) -> E:
    """An `error` saying `what` cannot be stored, with the code every entrance answers it
    with (`CODE`): the API, the console and the socket alike."""
    refused = error(f"{what} {PROBLEM}")
    refused.code = CODE  # type: ignore[attr-defined]
    return refused


def storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


def payload_storable(payload: Any, encoded: str) -> bool:
    """Whether every key and string of a JSON payload is storable. `encoded` is its ASCII
    JSON, whose escapes show where to look: most payloads need no walk at all."""
    if "\\u0000" not in encoded and "\\ud" not in encoded:
        return True
    return _walk(payload)


def _walk(value: Any) -> bool:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return all(storable(str(k)) and _walk(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_walk(item) for item in value)
    return True
