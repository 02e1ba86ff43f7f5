from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat.views import home
from console.views import login as console_login

urlpatterns = [
    path("", home, name="home"),
    path("", include("chat.urls")),
    path("admin/", admin.site.urls),
    # Django's login, landing console staff on the console (console/views/login.py).
    path("accounts/login/", console_login.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("delivery.urls")),
    path("console/", include("console.urls")),
    path("", include("monitoring.urls")),
]
