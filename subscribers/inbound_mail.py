"""The mailto: half of List-Unsubscribe: an email to UNSUBSCRIBE_MAILTO unsubscribes.

Its subject carries the same signed token as the https link ("unsubscribe <token>", see
links.unsubscribe_mailto), so only a token the system made can unsubscribe anyone, and the
sender's address does not matter. Inbound mail arrives through anymail's inbound webhook.
"""

import hashlib
import re

from django.db import transaction

from . import tokens
from .models import Subscriber
from .suppression import first_time_seen

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


def inbound_key(event) -> str:
    """The ESP's event id, else the message's Message-ID, else a digest of its headers and text."""
    message = event.message
    key = event.event_id or (message.get("Message-ID") or "").strip()
    if key:
        return str(key)
    # Not the raw bytes: an ESP's JSON becomes MIME with a fresh boundary each time.
    said = [str(message.get(name, "")) for name in ("From", "To", "Date", "Subject")]
    said.append(message.text or "")
    return "sha256:" + hashlib.sha256("\n".join(said).encode("utf-8", "replace")).hexdigest()


def on_inbound(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's inbound signal receiver (connected in SubscribersConfig.ready)."""
    message = getattr(event, "message", None)
    if message is None:
        return
    with transaction.atomic():
        # A replayed inbound email (after the reader subscribed again) must not unsubscribe them.
        if not first_time_seen(f"inbound:{esp_name}"[:32], inbound_key(event)):
            return
        unsubscribe_from_subject(message.subject or "", source=f"mailto:{esp_name}".lower()[:64])
