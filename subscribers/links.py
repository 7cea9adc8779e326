"""Absolute links to a reader's own pages, for every email the system sends.

Each is one HMAC over the subscriber id (see tokens.py): no database query, so delivery can
call these for 100,000 readers. The unsubscribe URL is both the page with a button (GET) and
the RFC 8058 one-click endpoint (POST), so it is the List-Unsubscribe https URL.
"""

import functools
from urllib.parse import quote

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from . import tokens
from .models import Subscriber

PLACEHOLDER = "TOKEN"


@functools.cache
def _path_around_token(name: str, script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    # reverse() costs ~0.1 ms with many URL patterns; do it once per URL name, not per reader.
    before, _, after = reverse(name, args=[PLACEHOLDER]).rpartition(PLACEHOLDER)
    return before, after


def _absolute(name: str, token: str) -> str:
    before, after = _path_around_token(name, get_script_prefix(), get_urlconf())
    return f"{settings.SITE_URL}{before}{token}{after}"


def confirm_url(subscriber: Subscriber) -> str:
    """The link in the confirmation email (expires after SUBSCRIBERS_CONFIRM_MAX_AGE)."""
    return _absolute("subscribers:confirm", tokens.make_token(subscriber.pk, tokens.CONFIRM))


def preferences_url(subscriber: Subscriber) -> str:
    """The reader's preference centre: tags, language, unsubscribe, subscribe again."""
    return _absolute("subscribers:preferences", tokens.make_token(subscriber.pk, tokens.PREFERENCES))


def unsubscribe_url(subscriber: Subscriber) -> str:
    """The unsubscribe page, which also takes the RFC 8058 one-click POST (List-Unsubscribe)."""
    return _absolute("subscribers:unsubscribe", tokens.make_token(subscriber.pk, tokens.UNSUBSCRIBE))


def unsubscribe_mailto(subscriber: Subscriber) -> str:
    """A mailto: URI for List-Unsubscribe, its subject carrying the unsubscribe token."""
    return _mailto(tokens.make_token(subscriber.pk, tokens.UNSUBSCRIBE))


def unsubscribe_links(subscriber: Subscriber) -> tuple[str, str]:
    """The unsubscribe URL and mailto together, from one token: one HMAC per email, not two."""
    token = tokens.make_token(subscriber.pk, tokens.UNSUBSCRIBE)
    return _absolute("subscribers:unsubscribe", token), _mailto(token)


def _mailto(token: str) -> str:
    return f"mailto:{settings.UNSUBSCRIBE_MAILTO}?subject={quote(f'unsubscribe {token}')}"
