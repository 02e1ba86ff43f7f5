"""Admin views of the ledger: read-only, and without payloads. The operator console is where
content is revealed, audited and with a reason; here an event is its seq, type and time."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from delivery.models import AccessToken, Connection, DeliveryAttempt, Event, Thread


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "title", "last_seq", "acked_seq", "created_at"]
    readonly_fields = ["last_seq", "acked_seq"]
    search_fields = ["id", "owner__username"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["thread", "seq", "type", "critical", "created_at"]
    fields = ["event_id", "thread", "seq", "type", "critical", "created_at"]
    list_filter = ["type"]


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = ["id", "thread", "transport", "state", "sent_seq", "acked_seq", "opened_at"]
    list_filter = ["state", "transport"]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ["thread", "trigger", "first_seq", "last_seq", "outcome", "created_at"]
    list_filter = ["trigger", "outcome"]


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyAdmin):
    list_display = ["user", "label", "created_at", "expires_at", "revoked_at"]
    fields = ["user", "label", "created_at", "expires_at", "revoked_at"]
