from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from delivery.selectors import threads_of


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in landing page: the user's threads and where to go next."""
    threads = threads_of(user=request.user)[:50]
    return render(request, "home.html", {"threads": threads})
