"""The baseline: plain Channels, as most chat code writes it. No ledger, no acks, no heartbeat.

The same daphne and channels_redis as Ledgerline (config.settings.bench). The emitter calls
`group_send` with the same event frames Ledgerline sends; the consumer forwards each frame with
`send`. Served as `bench.plain_app:application`.
"""

import json
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


def plain_group(thread: str) -> str:
    return f"plain.{thread}"


def plain_message(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """One group message carrying `frames`: one event, or a batch like Ledgerline's emit_many."""
    return {"type": "plain.events", "events": frames}


class PlainConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.group = plain_group(self.scope["url_route"]["kwargs"]["thread"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"type": "hello"}))

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def plain_events(self, message: dict[str, Any]) -> None:
        for frame in message["events"]:
            await self.send(text_data=json.dumps(frame))


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("plain/<str:thread>/", PlainConsumer.as_asgi())])}
)
