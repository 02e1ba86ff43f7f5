"""Every HTTP route of the delivery core, for `path("api/", include("delivery.urls"))`:
the HTTP fallback for clients, the publish API for services, the OpenAPI schema and docs."""

from django.urls import path

from delivery.wire.openapi import api

urlpatterns = [
    path("", api.urls),
]
