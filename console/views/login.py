"""The site's login page, sending console staff to the console when no page was asked for."""

from django.contrib.auth import views as auth_views
from django.urls import reverse

from console.access import allowed


class LoginView(auth_views.LoginView):
    """Django's login; after it, staff who may use the console land on its overview, everyone
    else on the chat (LOGIN_REDIRECT_URL). A `next` page still wins."""

    def get_default_redirect_url(self) -> str:
        if allowed(self.request.user):
            return reverse("console:overview")
        return super().get_default_redirect_url()
