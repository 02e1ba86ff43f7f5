from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("favicon.ico", views.favicon, name="favicon"),
    path("threads/new", views.new_thread, name="new_thread"),
    path("threads/<uuid:thread_id>/", views.thread_page, name="thread"),
    path("threads/<uuid:thread_id>/messages", views.post_message, name="post_message"),
]
