"""Who may use the console: staff with console permissions (groups `support` and `admin`).

Pages send anonymous users to the login page; the JSON API answers 401. Anyone logged in who is
not staff or lacks the permission gets 403. Every check is on the server, per request.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse

from console.exceptions import ConsoleError, Forbidden, NotSignedIn

VIEW = "view_console"
REVEAL = "reveal_content"
REPLAY = "replay_events"
VERIFY = "run_verification"
ALERTS = "manage_alerts"
KEYS = "manage_api_keys"

View = Callable[..., HttpResponse]


def allowed(user: User | AnonymousUser, permission: str = VIEW) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(f"console.{VIEW}")
        and user.has_perm(f"console.{permission}")
    )


def require(user: User | AnonymousUser, permission: str = VIEW) -> User:
    """`user`, if they may use the console for `permission`; else NotSignedIn or Forbidden."""
    if not isinstance(user, User):  # the anonymous user: nobody signed in
        raise NotSignedIn("log in")
    if not allowed(user, permission):
        raise Forbidden(f"needs console.{permission}")
    return user


def operator(request: HttpRequest) -> User:
    """The staff member behind a request that console_page or console_api let through: the
    actor the console's actions record."""
    user = request.user
    if not isinstance(user, User):  # the guards let no anonymous request this far
        raise NotSignedIn("log in")
    return user


def console_page(permission: str = VIEW) -> Callable[[View], View]:
    """Guard a page: the anonymous go to the login page, anyone else refused gets a 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                require(request.user, permission)
            except NotSignedIn:
                return redirect_to_login(request.get_full_path())
            except Forbidden as exc:
                raise PermissionDenied(str(exc)) from exc
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def console_api(permission: str = VIEW) -> Callable[[View], View]:
    """Guard a JSON API view, and answer every console error, the guard's own refusals and the
    view's alike, in the API's one shape: `{"error": code, "detail": text}` with its status."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                require(request.user, permission)
                return view(request, *args, **kwargs)
            except ConsoleError as exc:
                return JsonResponse({"error": exc.code, "detail": str(exc)}, status=exc.status)

        return wrapped

    return decorator


def capabilities(user: User | AnonymousUser) -> dict[str, bool]:
    """What the templates may offer this user (the server checks again on every POST)."""
    return {
        "can_reveal": allowed(user, REVEAL),
        "can_replay": allowed(user, REPLAY),
        "can_verify": allowed(user, VERIFY),
        "can_manage_alerts": allowed(user, ALERTS),
        "can_manage_keys": allowed(user, KEYS),
    }
