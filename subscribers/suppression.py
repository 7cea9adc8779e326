"""Stop mailing addresses that bounce hard or complain.

suppress() is the one entry point: delivery calls it for permanent SMTP refusals, and the
anymail tracking-signal receiver below calls it for ESP bounce and complaint webhooks. A
suppressed reader gets nothing more until they confirm their address again.

Soft bounces (a 4xx the send gave up on, an ESP's soft bounce) count once per digest day;
SOFT_BOUNCE_LIMIT digests in a row suppress the address as bounced, with each counted error in
the history; a delivery resets the count (clear_soft_bounces).

The receiver only acts on webhooks anymail has authenticated (WEBHOOK_SECRET basic auth and
the ESP's own signature where it has one; webhooks.py keeps the URLs 404 until a secret is set).
A replayed event changes nothing: each ESP event (its id, or a digest of its content when the
ESP sends no id) is acted on once, and an event older than the reader's latest confirmation is
ignored, so an old bounce or unsubscribe cannot undo a fresh confirmation.
"""

import datetime
import hashlib
import json
import logging

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import ProcessedWebhookEvent, Subscriber

logger = logging.getLogger(__name__)

BOUNCED = Subscriber.Status.BOUNCED
COMPLAINED = Subscriber.Status.COMPLAINED


def suppress(
    email: str, *, reason: str, source: str, detail: str = "", occurred_at: datetime.datetime | None = None
) -> bool:
    """Move the subscriber with this address to bounced or complained; True if their state changed.

    Idempotent; records the change in the subscriber's history. Unknown addresses are ignored.
    An event that happened before the subscriber last confirmed (occurred_at) changes nothing.
    """
    if reason not in (BOUNCED, COMPLAINED):
        raise ValueError(f"reason must be 'bounced' or 'complained', not {reason!r}")
    subscriber = Subscriber.objects.with_email(email).first()
    if subscriber is None:
        return False
    if _before_confirmation(subscriber, occurred_at):
        return False
    changed = subscriber.suppress(reason, source=source, detail=detail)
    if changed:
        logger.info("suppressed subscriber %s as %s (%s)", subscriber.pk, reason, source)
    return changed


def _before_confirmation(subscriber: Subscriber, occurred_at: datetime.datetime | None) -> bool:
    """An event older than the reader's latest confirmation: they have chosen again since."""
    return bool(occurred_at and subscriber.confirmed_at and occurred_at < subscriber.confirmed_at)


def record_soft_bounce(subscriber_id: int, *, on: datetime.date, detail: str, source: str) -> bool:
    """Count a transient failure for the digest of this day; True if the address is now suppressed.

    Counted once per day (retries and repeated events of one digest are one count), with a
    conditional update, so two workers or webhooks cannot both count the same day.
    """
    counted = (
        Subscriber.objects.filter(pk=subscriber_id, state=Subscriber.Status.ACTIVE)
        .exclude(last_soft_bounce_on=on)
        .update(soft_bounces=F("soft_bounces") + 1, last_soft_bounce_on=on)
    )
    if not counted:
        return False
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    limit = settings.SOFT_BOUNCE_LIMIT
    log = [*subscriber.soft_bounce_log, {"on": on.isoformat(), "error": detail[:300]}][-limit:]
    Subscriber.objects.filter(pk=subscriber_id).update(soft_bounce_log=log)
    if subscriber.soft_bounces < limit:
        return False
    history = "; ".join(f"{item['on']}: {item['error']}" for item in log)
    return suppress(
        subscriber.email,
        reason=BOUNCED,
        source=source,
        detail=f"soft bounces on {subscriber.soft_bounces} digests in a row: {history}"[:2000],
    )


def clear_soft_bounces(subscriber_ids: list[int]) -> int:
    """A message reached these readers: their soft-bounce counts start again; rows changed."""
    return Subscriber.objects.filter(pk__in=subscriber_ids, soft_bounces__gt=0).update(
        soft_bounces=0, last_soft_bounce_on=None, soft_bounce_log=[]
    )


def is_soft_bounce(event: AnymailTrackingEvent) -> bool:
    """A temporary failure some ESPs report as "bounced" (anymail maps Postmark's SoftBounce so)."""
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    return esp_event.get("Type") == "SoftBounce"


def reason_for_event(event: AnymailTrackingEvent) -> str | None:
    """bounced, complained, unsubscribed, or None for events that change nothing."""
    if event.event_type == EventType.BOUNCED:
        return None if is_soft_bounce(event) else BOUNCED
    if event.event_type == EventType.COMPLAINED:
        return COMPLAINED
    if event.event_type == EventType.UNSUBSCRIBED:
        return Subscriber.Status.UNSUBSCRIBED
    if event.event_type == EventType.REJECTED:
        # The ESP refused to send because of its own suppression list.
        if event.reject_reason == RejectReason.BOUNCED:
            return BOUNCED
        if event.reject_reason == RejectReason.SPAM:
            return COMPLAINED
    return None


def event_key(event: AnymailTrackingEvent) -> str:
    """The ESP's event id or, for ESPs that send none, a digest of what the event says."""
    if event.event_id:
        return str(event.event_id)
    said = [event.event_type, event.recipient, event.message_id, event.timestamp, event.description]
    return "sha256:" + hashlib.sha256(json.dumps(said, default=str).encode()).hexdigest()


def first_time_seen(esp_name: str, event_id: str | None) -> bool:
    """Record the event's key; False when it was already recorded (a replay)."""
    if not event_id:
        return True
    try:
        with transaction.atomic():
            ProcessedWebhookEvent.objects.create(esp_name=esp_name, event_id=str(event_id)[:255])
    except IntegrityError:
        return False
    return True


def handle_soft_signal(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """An ESP's soft bounce counts toward suppression, its "delivered" resets the count.

    True if a subscriber was suppressed. Replays count nothing (event ids, one count per day).
    """
    soft = event.event_type == EventType.BOUNCED and is_soft_bounce(event)
    delivered = event.event_type == EventType.DELIVERED
    if not (soft or delivered) or not event.recipient:
        return False
    subscriber = Subscriber.objects.with_email(event.recipient).first()
    if subscriber is None:
        return False
    if delivered:
        clear_soft_bounces([subscriber.pk])
        return False
    with transaction.atomic():
        if not first_time_seen(esp_name, event.event_id):
            return False
        at = event.timestamp or timezone.now()
        detail = " ".join(filter(None, [event.description, event.mta_response])) or "soft bounce"
        return record_soft_bounce(
            subscriber.pk, on=timezone.localdate(at), detail=detail, source=f"esp:{esp_name}".lower()[:64]
        )


def handle_tracking_event(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Act on one authenticated ESP tracking event; True if a subscriber's state changed."""
    if handle_soft_signal(event, esp_name):
        return True
    reason = reason_for_event(event)
    if reason is None or not event.recipient:
        return False
    with transaction.atomic():
        if not first_time_seen(esp_name, event_key(event)):
            return False
        source = f"esp:{esp_name}".lower()[:64]
        detail = " ".join(filter(None, [event.event_type, event.description, event.mta_response]))
        if reason == Subscriber.Status.UNSUBSCRIBED:
            subscriber = Subscriber.objects.with_email(event.recipient).first()
            if subscriber is None or _before_confirmation(subscriber, event.timestamp):
                return False
            return subscriber.unsubscribe(source=source, detail=detail)
        return suppress(
            event.recipient, reason=reason, source=source, detail=detail, occurred_at=event.timestamp
        )


def webhook_is_authenticated(view_class: type) -> bool:
    """True when anymail checked this webhook: a WEBHOOK_SECRET, or the ESP's own signature.

    Without a secret anymail only warns and lets anyone post events; we then act on none.
    """
    if getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        return True
    return getattr(view_class, "warn_if_no_basic_auth", True) is False


def on_tracking(sender: type, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """anymail's tracking signal receiver (connected in SubscribersConfig.ready)."""
    if not webhook_is_authenticated(sender):
        logger.error(
            "ignored a %s webhook event: set ANYMAIL_WEBHOOK_SECRET to authenticate webhooks", esp_name
        )
        return
    handle_tracking_event(event, esp_name)
