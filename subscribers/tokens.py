"""Signed tokens for the links in readers' emails: confirm, unsubscribe, preferences.

A token is the subscriber's id (base62) signed with HMAC by a TimestampSigner, one salt per
purpose, so a confirm token cannot unsubscribe and a token for one subscriber cannot be
altered to act on another. Tokens never hold the address, nothing is stored to make them,
and making one touches no database. Checking uses SECRET_KEY_FALLBACKS too, so links in
emails already sent survive a key rotation.

Confirm tokens expire (SUBSCRIBERS_CONFIRM_MAX_AGE, 7 days); unsubscribe and preference
tokens do not, because RFC 8058 asks that an unsubscribe link keep working long after the
email was sent (at least 60 days), and the preference link in an old email should too.
"""

import datetime
import functools

from django.conf import settings
from django.core import signing

CONFIRM = "subscribers.confirm"
UNSUBSCRIBE = "subscribers.unsubscribe"
PREFERENCES = "subscribers.preferences"
PURPOSES = (CONFIRM, UNSUBSCRIBE, PREFERENCES)


class BadToken(Exception):
    """The token was tampered with, is for another purpose, or is malformed."""


class ExpiredToken(BadToken):
    """The token was genuine but is too old."""


@functools.cache
def _signer(purpose: str, secret_key: str, fallback_keys: tuple[str, ...]) -> signing.TimestampSigner:
    # Cached per key set: the signer itself is cheap, but links are made 100,000 times a day.
    return signing.TimestampSigner(key=secret_key, fallback_keys=list(fallback_keys), salt=purpose)


def signer(purpose: str) -> signing.TimestampSigner:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return _signer(purpose, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


def make_token(subscriber_id: int, purpose: str) -> str:
    """A URL-safe signed token naming this subscriber id, for this purpose only."""
    return signer(purpose).sign(signing.b62_encode(subscriber_id))


def max_age(purpose: str) -> datetime.timedelta | None:
    if purpose == CONFIRM:
        return datetime.timedelta(seconds=settings.SUBSCRIBERS_CONFIRM_MAX_AGE)
    return None


def issued_after(token: str, moment: datetime.datetime) -> bool:
    """Whether a token (already checked by read_token) was made at or after `moment`.

    Timestamps are whole seconds, so a token of the same second counts as after.
    """
    try:
        stamp = signing.b62_decode(token.rsplit(":", 2)[1])
    except (IndexError, ValueError):
        return False
    return stamp >= int(moment.timestamp())


def read_token(token: str, purpose: str) -> int:
    """The subscriber id a token names; raises ExpiredToken or BadToken."""
    try:
        value = signer(purpose).unsign(token, max_age=max_age(purpose))
    except signing.SignatureExpired:
        raise ExpiredToken(token) from None
    except signing.BadSignature:
        raise BadToken(token) from None
    try:
        return signing.b62_decode(value)
    except (ValueError, IndexError):
        raise BadToken(token) from None
