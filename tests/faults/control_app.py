"""The control for the burst scenario: a plain Channels stack with no ledger.

`group_send` to `plain.<thread>` and a consumer that only forwards with `send_json`: what
most Channels chat code does. Served by daphne as `tests.faults.control_app:application`.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


def plain_group(thread: str) -> str:
    return f"plain.{thread}"


class PlainConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.group = plain_group(self.scope["url_route"]["kwargs"]["thread"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def plain_event(self, message: dict) -> None:
        await self.send_json({"seq": message["seq"]})


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("plain/<str:thread>/", PlainConsumer.as_asgi())])}
)
