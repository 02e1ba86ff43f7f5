from django.contrib import admin

from monitoring.models import Alert, VerificationRun


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("kind", "subject", "state", "count", "first_seen", "last_seen", "summary")
    list_filter = ("state", "kind")


@admin.register(VerificationRun)
class VerificationRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "trigger", "ok", "started_at", "finished_at")
    list_filter = ("ok", "trigger")
