"""The page a client gets while django-axes has locked it out of the admin login.

It says why and for how long, in the reader's language, and never whether the username exists.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """429 with the lockout page (AXES_LOCKOUT_CALLABLE)."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return render(request, "admin/lockout.html", {"minutes": minutes, "title": ""}, status=429)
