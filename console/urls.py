from django.urls import path

from console import api
from console.views import content, keys, ops, pages, replays

app_name = "console"

urlpatterns = [
    path("", pages.overview_page, name="overview"),
    path("threads/", pages.thread_list, name="threads"),
    path("threads/<uuid:thread_id>/", pages.thread_detail, name="thread"),
    path("events/<uuid:event_id>/reveal", content.reveal, name="reveal"),
    path("reveals/", content.reveals, name="reveals"),
    path("replays/", replays.audit, name="replays"),
    path("replays/dry-run", replays.dry_run, name="dry-run"),
    path("replays/new", replays.create, name="replay-create"),
    path("replays/<int:replay_id>/", replays.detail, name="replay"),
    path("replays/<int:replay_id>/cancel", replays.cancel, name="replay-cancel"),
    path("replays/paced/<int:paced_id>/", replays.paced_detail, name="paced"),
    path("replays/paced/<int:paced_id>/cancel", replays.paced_cancel, name="paced-cancel"),
    path("verification/", ops.verification, name="verification"),
    path("verification/run", ops.run_verification, name="verification-start"),
    path("verification/<int:run_id>/", ops.verification_run, name="verification-run"),
    path("alerts/", ops.alerts, name="alerts"),
    path("api-keys/", keys.api_keys, name="api-keys"),
    path("api-keys/new", keys.create_key, name="api-key-create"),
    path("api-keys/<uuid:key_id>/revoke", keys.revoke_key, name="api-key-revoke"),
    path("alerts/<int:alert_id>/acknowledge", ops.acknowledge_alert, name="alert-ack"),
    path("alerts/<int:alert_id>/resolve", ops.resolve_alert, name="alert-resolve"),
    path("workers/", ops.worker_view, name="workers"),
    # JSON API: the same actions and checks as the buttons (docs/api.md).
    path("api/overview", api.overview_api, name="api-overview"),
    path("api/charts", api.charts_api, name="api-charts"),
    path("api/workers", api.workers_api, name="api-workers"),
    path("api/threads", api.threads_api, name="api-threads"),
    path("api/replays/dry-run", api.dry_run_api, name="api-dry-run"),
    path("api/replays", api.replay_api, name="api-replay"),
    path("api/replays/<int:replay_id>", api.replay_status_api, name="api-replay-status"),
    path("api/replays/<int:replay_id>/cancel", api.cancel_api, name="api-replay-cancel"),
    path("api/replays/paced/<int:paced_id>", api.paced_status_api, name="api-paced-status"),
    path("api/replays/paced/<int:paced_id>/cancel", api.paced_cancel_api, name="api-paced-cancel"),
    path("api/verification", api.verification_api, name="api-verification"),
    path("api/verification/<int:run_id>", api.verification_status_api, name="api-verification-run"),
    path("api/alerts/<int:alert_id>/acknowledge", api.acknowledge_api, name="api-alert-ack"),
    path("api/alerts/<int:alert_id>/resolve", api.resolve_api, name="api-alert-resolve"),
    path("api/events/<uuid:event_id>/reveal", api.reveal_api, name="api-reveal"),
    path("api/reveals", api.reveals_api, name="api-reveals"),
]
