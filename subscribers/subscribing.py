"""Joining the list: the subscribe form's request and the confirmation email it sends.

The form answers every address the same way (new, already subscribed, unsubscribed,
suppressed), so all the differences live here and in the email, which only the address's
owner reads. Nothing here confirms anyone: only a POST to the signed confirm link does, and
only a link made after the address last changed state (coming back from an unsubscribe, a
bounce or a complaint takes a fresh confirmation). A bounced or complained address gets no
mail at all from the form.
"""

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import translation

from newsletters.mail.rendering import render_email
from newsletters.models import Tag

from . import links
from .models import Subscriber, SubscriberEvent, normalise_email
from .tasks import send_confirmation as send_confirmation_task

logger = logging.getLogger(__name__)


class PermanentSendError(Exception):
    """The receiving server refused the address for good (5xx)."""


def confirmation_interval() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.SUBSCRIBERS_CONFIRM_INTERVAL)


def email_language(subscriber: Subscriber, ui_language: str) -> str:
    """Korean or English for mail to this reader: their commentary language, else the page's."""
    if subscriber.language in ("ko", "en"):
        return subscriber.language
    if ui_language in ("ko", "en"):
        return ui_language
    return settings.LANGUAGE_CODE


def get_or_create_subscriber(*, email: str, language: str, source: str) -> tuple[Subscriber, bool]:
    """The subscriber for this address, created pending (with its first history row) if new."""
    subscriber, created = Subscriber.objects.get_or_create(
        email=normalise_email(email), defaults={"language": language}
    )
    if created:
        SubscriberEvent.objects.create(
            subscriber=subscriber, at=subscriber.created_at, to_state=subscriber.state, source=source
        )
    return subscriber, created


def request_confirmation(subscriber: Subscriber, *, ui_language: str) -> bool:
    """Queue a confirmation email unless this address had one in the last interval."""
    if not subscriber.claim_confirmation_email(interval=confirmation_interval()):
        return False
    subscriber_id = subscriber.pk
    transaction.on_commit(lambda: send_confirmation_task.delay(subscriber_id, ui_language))
    return True


@transaction.atomic
def request_subscription(*, email: str, language: str, tags: list[Tag], ui_language: str) -> None:
    """Handle a subscribe form: record the wish and email the address; reveals nothing to the caller.

    An active reader's choices are left alone (a stranger could be typing their address);
    they get an email pointing to their preference centre instead of a confirm link.
    """
    subscriber, created = get_or_create_subscriber(email=email, language=language, source="subscribe-form")
    if subscriber.is_suppressed:
        # Anyone can type any address: a form must never make us mail an address that bounced
        # or complained. The caller's answer is the same as for any other address, so the form
        # does not tell whether an address is suppressed; its owner comes back through the
        # preference link of an earlier email.
        logger.info("subscribe form for suppressed subscriber %s: nothing sent", subscriber.pk)
        return
    if subscriber.state != Subscriber.Status.ACTIVE:
        # Nothing is sent to a non-active address until it confirms, so taking the new
        # choices now is harmless, and confirming then gives exactly what was asked for.
        subscriber.set_preferences(language=language, tags=tags)
    request_confirmation(subscriber, ui_language=ui_language)


def render_confirmation_email(subscriber: Subscriber, *, ui_language: str) -> EmailMultiAlternatives:
    """The confirmation email (or, for an active reader, a pointer to their preferences)."""
    language = email_language(subscriber, ui_language)
    context = {
        "subscriber": subscriber,
        "already_subscribed": subscriber.state == Subscriber.Status.ACTIVE,
        "confirm_url": links.confirm_url(subscriber),
        "preferences_url": links.preferences_url(subscriber),
        "expires_days": settings.SUBSCRIBERS_CONFIRM_MAX_AGE // 86400,
        "language": language,
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
    }
    with translation.override(language):
        email = render_email("confirm", context)
    message = EmailMultiAlternatives(subject=email.subject, body=email.text, to=[subscriber.email])
    message.attach_alternative(email.html, "text/html")
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    return message


def send_confirmation_email(subscriber_id: int, *, ui_language: str) -> bool:
    """Send the confirmation email now; False when there is nobody to send it to.

    Raises PermanentSendError after suppressing an address the server refused for good;
    other SMTP errors propagate so the task can retry.
    """
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False
    message = render_confirmation_email(subscriber, ui_language=ui_language)
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            from .suppression import suppress

            suppress(
                subscriber.email, reason=Subscriber.Status.BOUNCED, source="smtp", detail=str(exc.recipients)
            )
            raise PermanentSendError(str(exc.recipients)) from exc
        raise
    return True
