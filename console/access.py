"""Who may use the console: staff with console permissions (groups `support` and `admin`).

Pages send anonymous users to the login page; the JSON API answers 401. Anyone logged in who is
not staff or lacks the permission gets 403. Every check is on the server, per request.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse

VIEW = "view_console"
REVEAL = "reveal_content"
REPLAY = "replay_events"
VERIFY = "run_verification"
ALERTS = "manage_alerts"

View = Callable[..., HttpResponse]


def allowed(user: Any, permission: str = VIEW) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(f"console.{VIEW}")
        and user.has_perm(f"console.{permission}")
    )


def console_page(permission: str = VIEW) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not allowed(request.user, permission):
                raise PermissionDenied(f"needs console.{permission}")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def console_api(permission: str = VIEW) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return JsonResponse({"error": "unauthenticated", "detail": "log in"}, status=401)
            if not allowed(request.user, permission):
                detail = f"needs console.{permission}"
                return JsonResponse({"error": "forbidden", "detail": detail}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def capabilities(user: Any) -> dict[str, bool]:
    """What the templates may offer this user (the server checks again on every POST)."""
    return {
        "can_reveal": allowed(user, REVEAL),
        "can_replay": allowed(user, REPLAY),
        "can_verify": allowed(user, VERIFY),
        "can_manage_alerts": allowed(user, ALERTS),
    }
