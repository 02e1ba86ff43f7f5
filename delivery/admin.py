from django.contrib import admin

from delivery.models import AccessToken, Connection, DeliveryAttempt, Event, Thread


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "title", "last_seq", "created_at"]
    search_fields = ["id", "owner__username"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["thread", "seq", "type", "state", "created_at", "acked_at"]
    list_filter = ["state", "type"]


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["id", "thread", "state", "opened_at", "closed_at", "close_code"]
    list_filter = ["state"]


admin.site.register(DeliveryAttempt)


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "label", "created_at", "expires_at", "revoked_at"]
