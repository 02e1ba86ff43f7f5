from django.urls import path

from delivery import api

app_name = "delivery"

urlpatterns = [
    path("threads", api.threads, name="threads"),
    path("threads/<uuid:thread_id>/events", api.events, name="events"),
    path("threads/<uuid:thread_id>/ack", api.ack, name="ack"),
    path("threads/<uuid:thread_id>/messages", api.messages, name="messages"),
]
