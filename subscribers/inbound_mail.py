"""The mailto: half of List-Unsubscribe: an email to UNSUBSCRIBE_MAILTO unsubscribes.

Its subject carries the same signed token as the https link ("unsubscribe <token>", see
links.unsubscribe_mailto), so only a token the system made can unsubscribe anyone, and the
sender's address does not matter. Inbound mail arrives through anymail's inbound webhook.
"""

import re

from . import tokens
from .models import Subscriber

TOKEN_IN_SUBJECT = re.compile(r"unsubscribe\s+(\S+)", re.IGNORECASE)


def unsubscribe_from_subject(subject: str, *, source: str = "mailto") -> bool:
    """Unsubscribe the reader whose token is in this subject; True if their state changed."""
    match = TOKEN_IN_SUBJECT.search(subject or "")
    if not match:
        return False
    try:
        subscriber_id = tokens.read_token(match.group(1), tokens.UNSUBSCRIBE)
    except tokens.BadToken:
        return False
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    return bool(subscriber and subscriber.unsubscribe(source=source))


def on_inbound(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's inbound signal receiver (connected in SubscribersConfig.ready)."""
    message = getattr(event, "message", None)
    if message is not None:
        unsubscribe_from_subject(message.subject or "", source=f"mailto:{esp_name}".lower()[:64])
