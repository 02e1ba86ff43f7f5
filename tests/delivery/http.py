"""JSON over Django's test client, for the HTTP API's tests."""

import json
from typing import Any


def post(client, url: str, body: Any, **extra: Any):
    """POST `body` as JSON; a str or bytes body goes as is (malformed-body tests)."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json", **extra)
