"""Admin views of the ledger: read-only for everyone, for superusers only, never a payload.

The operator console is where content is revealed, audited and with a reason; support staff
work there, so a staff account with view permissions still sees nothing of delivery here.
Token rows show no id: an id and the signing key are all a token is.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from delivery.models import AccessToken, Connection, DeliveryAttempt, Event, Thread


class LedgerAdmin(admin.ModelAdmin):
    actions = None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(LedgerAdmin):
    list_display = ["id", "owner", "last_seq", "acked_seq", "created_at"]
    fields = [
        "id",
        "owner",
        "last_seq",
        "acked_seq",
        "last_event_at",
        "created_at",
    ]  # no title: it is the user's words
    search_fields = ["id", "owner__username"]


@admin.register(Event)
class EventAdmin(LedgerAdmin):
    list_display = ["thread_id", "seq", "type", "critical", "created_at"]
    fields = ["event_id", "thread_id", "seq", "type", "critical", "created_at"]
    list_filter = ["type"]


@admin.register(Connection)
class ConnectionAdmin(LedgerAdmin):
    list_display = ["id", "thread_id", "transport", "state", "sent_seq", "acked_seq", "opened_at"]
    list_filter = ["state", "transport"]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(LedgerAdmin):
    list_display = ["thread_id", "trigger", "first_seq", "last_seq", "outcome", "created_at"]
    list_filter = ["trigger", "outcome"]


@admin.register(AccessToken)
class AccessTokenAdmin(LedgerAdmin):
    list_display = ["user", "label", "created_at", "expires_at", "revoked_at"]
    list_display_links = None  # a row links to a URL that carries the token's id

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The list only: a token's own page would put its id in the address.
        return obj is None and super().has_view_permission(request)
