"""The ESP webhook endpoints (anymail's tracking and inbound URLs), switched on by a secret.

Without ANYMAIL_WEBHOOK_SECRET anyone could post "bounced" or "complained" events, so until it
is set every webhook URL answers 404, as if it did not exist. With it, anymail checks the
secret (HTTP basic auth) and the ESP's signature, and suppression.py / inbound_mail.py act on
each event at most once. This module only guards the URLs; it must not act on events.
"""

import functools
from collections.abc import Callable

from anymail import urls as anymail_urls
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern


def webhooks_enabled() -> bool:
    """True once a webhook secret is configured (ANYMAIL_WEBHOOK_SECRET)."""
    return bool(getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"))


def require_webhook_secret(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view that answers 404 while no webhook secret is configured."""

    @functools.wraps(view)  # keeps anymail's csrf_exempt: ESPs post without a CSRF token
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not webhooks_enabled():
            raise Http404("webhooks are off until ANYMAIL_WEBHOOK_SECRET is set")
        return view(request, *args, **kwargs)

    return guarded


urlpatterns = [
    URLPattern(pattern.pattern, require_webhook_secret(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urls.urlpatterns
]
