"""What a send does about failures it cannot fix by retrying, and how it tells staff.

- Configuration-class failures (senders.ConfigurationError: TLS, login, refused, unknown host,
  our sender refused) pause the digest with the reason: at once when nothing was delivered yet
  (the first connections of a send), else after DELIVERY_PAUSE_AFTER_FAILURES in a row. Staff
  get mail_admins and a banner (paused_by_policy); the rows stay queued for Resume.
- Readers who left: readers_gone() is the per-message look at the readers' state, one query
  per sub-batch, so an unsubscribe is honoured within about a second.
- Complaints: an ESP complaint marks the reader's latest delivered row; from
  COMPLAINT_WARN_RATE the send page warns, from COMPLAINT_PAUSE_RATE the next scheduled digest
  is paused (now, and at beat for one scheduled later) and staff are mailed.
- failure_summary(): a digest's failures grouped by reason, for the send page.

It decides and records; it must not talk to the mail server or claim rows (sending.py and
ledger.py do), and it reads Subscriber state but changes it only through subscribers/.
"""

import logging
import re
from collections import OrderedDict

from django.conf import settings
from django.core.mail import get_connection, mail_admins
from django.db.models import Count, F, Q
from django.utils import timezone

from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from subscribers.suppression import record_soft_bounce, webhook_is_authenticated

logger = logging.getLogger(__name__)

# The start of status_note for a pause this module made, so the banner can tell it from an
# editor's own pause.
AUTO_PAUSE = "Paused automatically: "
# Readers looked at per query while sending: the longest an unsubscribe can go unnoticed is
# this many messages or CHECK_SECONDS, whichever comes first.
CHECK_EVERY = 10
CHECK_SECONDS = 1.0


def alert_staff(subject: str, message: str) -> None:
    """Mail ADMINS, through ALERT_EMAIL_BACKEND when set: the server that failed may be ours."""
    connection = get_connection(settings.ALERT_EMAIL_BACKEND or None, fail_silently=True)
    # fail_silently: the mail path may be the very thing that is broken; the banner remains.
    mail_admins(subject, message, fail_silently=True, connection=connection)


def pause(*, digest_id: int, reason: str, from_statuses: tuple[str, ...] = (Digest.Status.SENDING,)) -> bool:
    """Pause the digest with this reason and tell staff; False when it was not in from_statuses."""
    note = f"{AUTO_PAUSE}{reason}"[:2000]
    if not Digest.objects.filter(pk=digest_id, status__in=from_statuses).update(
        status=Digest.Status.PAUSED, status_note=note
    ):
        return False
    digest = Digest.objects.get(pk=digest_id)
    logger.error("digest %s paused: %s", digest.date, reason)
    alert_staff(
        f"Digest {digest.date} paused: {reason[:120]}",
        f"The digest of {digest.date} was paused automatically.\n\nReason: {reason}\n\n"
        "Readers not yet sent to stay queued. Fix the cause, then press Resume on the digest's "
        "Delivery page.",
    )
    return True


def paused_by_policy() -> list[Digest]:
    """Digests this module paused and no editor has resumed yet (the admin banner)."""
    return list(
        Digest.objects.filter(status=Digest.Status.PAUSED, status_note__startswith=AUTO_PAUSE).order_by(
            "-date"
        )[:20]
    )


# --- Configuration-class failures --------------------------------------------------


def connection_failed(*, digest_id: int, reason: str, definite: bool = True) -> bool:
    """A batch could not connect as configured; True if the digest is now paused.

    At the first connections of a send (nothing delivered yet) a definite failure (TLS, login,
    refused, unknown host) pauses at once; a timeout or dropped greeting, or any failure once
    messages have gone out, pauses after DELIVERY_PAUSE_AFTER_FAILURES in a row.
    """
    Digest.objects.filter(pk=digest_id).update(connection_failures=F("connection_failures") + 1)
    failures = Digest.objects.filter(pk=digest_id).values_list("connection_failures", flat=True).first() or 0
    at_start = not Delivery.objects.filter(digest_id=digest_id, status=Delivery.Status.SENT).exists()
    if at_start and definite:
        return pause(digest_id=digest_id, reason=reason)
    if failures < settings.DELIVERY_PAUSE_AFTER_FAILURES:
        logger.warning("digest %s: connection failure %s in a row: %s", digest_id, failures, reason)
        return False
    return pause(digest_id=digest_id, reason=f"{failures} connection failures in a row: {reason}")


def connection_worked(*, digest_id: int) -> None:
    """A batch delivered: configuration failures are no longer "in a row"."""
    Digest.objects.filter(pk=digest_id, connection_failures__gt=0).update(connection_failures=0)


# --- Readers who leave during the send ------------------------------------------------


def readers_state(subscriber_ids: list[int]) -> dict[int, tuple[str, int]]:
    """These readers' state and soft-bounce count, by id: one query on the primary key."""
    return {
        pk: (state, soft_bounces)
        for pk, state, soft_bounces in Subscriber.objects.filter(pk__in=subscriber_ids).values_list(
            "pk", "state", "soft_bounces"
        )
    }


def soft_bounce(*, subscriber_id: int, digest_id: int, error: str) -> bool:
    """The send gave up on this reader after temporary refusals; True if now suppressed."""
    day = Digest.objects.filter(pk=digest_id).values_list("date", flat=True).first()
    if day is None:
        return False
    return record_soft_bounce(subscriber_id, on=day, detail=error, source="smtp")


# --- Complaints ------------------------------------------------------------------------


def complaint_rate(digest_id: int) -> dict:
    """Complaints over messages sent for this digest, and whether that warns or pauses."""
    counts = Delivery.objects.filter(digest_id=digest_id, status=Delivery.Status.SENT).aggregate(
        sent=Count("pk"), complaints=Count("pk", filter=Q(complained_at__isnull=False))
    )
    sent, complaints = counts["sent"], counts["complaints"]
    rate = complaints / sent if sent else 0.0
    return {
        "sent": sent,
        "complaints": complaints,
        "percent": round(rate * 100, 2),
        "warn": bool(complaints) and rate >= settings.COMPLAINT_WARN_RATE,
        "pause": bool(complaints) and rate >= settings.COMPLAINT_PAUSE_RATE,
    }


def _complaint_reason(digest: Digest, rate: dict) -> str:
    return (
        f"complaints for the digest of {digest.date} reached {rate['percent']} % "
        f"({rate['complaints']} of {rate['sent']}; the limit is {settings.COMPLAINT_PAUSE_RATE * 100:g} %)"
    )


def record_complaint(*, email: str, at=None) -> Delivery | None:
    """Mark the delivery a complaint is about: the reader's latest delivered digest before it.

    ESPs report complaints about their own message ids, not ours, so the digest is the one the
    reader last received. Idempotent: a row is marked once. Crossing COMPLAINT_PAUSE_RATE
    pauses the scheduled digests after it and mails staff.
    """
    at = at or timezone.now()
    subscriber = Subscriber.objects.with_email(email).first()
    if subscriber is None:
        return None
    row = (
        Delivery.objects.filter(subscriber=subscriber, status=Delivery.Status.SENT, sent_at__lte=at)
        .select_related("digest")
        .order_by("-sent_at")
        .first()
    )
    if row is None or not Delivery.objects.filter(pk=row.pk, complained_at__isnull=True).update(
        complained_at=at
    ):
        return None
    rate = complaint_rate(row.digest_id)
    if rate["pause"]:
        reason = _complaint_reason(row.digest, rate)
        later = Digest.objects.filter(status=Digest.Status.SCHEDULED, date__gt=row.digest.date)
        paused = [
            d
            for d in later.values_list("pk", flat=True)
            if pause(digest_id=d, reason=reason, from_statuses=(Digest.Status.SCHEDULED,))
        ]
        if not paused and rate["complaints"] == _first_pausing_count(rate["sent"]):
            # Nothing scheduled yet: tell staff once, when the rate first crosses the limit;
            # beat pauses whatever is scheduled next (hold_reason).
            alert_staff(
                f"Complaints for the digest of {row.digest.date}: {rate['percent']} %",
                _complaint_reason(row.digest, rate)
                + ".\n\nThe next scheduled digest will be paused when it is due.",
            )
    return row


def _first_pausing_count(sent: int) -> int:
    """The smallest number of complaints that reaches the pause rate for this many messages."""
    count = 1
    while count / sent < settings.COMPLAINT_PAUSE_RATE:
        count += 1
    return count


def hold_reason(*, digest_id: int) -> str:
    """Why beat must not start this digest ("" if it may): the one sent before drew too many complaints."""
    digest = Digest.objects.get(pk=digest_id)
    previous = (
        Digest.objects.filter(status=Digest.Status.SENT, date__lt=digest.date).order_by("-date").first()
    )
    if previous is None:
        return ""
    rate = complaint_rate(previous.pk)
    return _complaint_reason(previous, rate) if rate["pause"] else ""


def on_tracking(sender: type, event, esp_name: str, **kwargs) -> None:
    """anymail's tracking receiver for complaints (connected in NewslettersConfig.ready)."""
    from anymail.signals import EventType

    if event.event_type != EventType.COMPLAINED or not event.recipient:
        return
    if not webhook_is_authenticated(sender):
        return  # subscribers.suppression logs it
    record_complaint(email=event.recipient, at=event.timestamp)


# --- The send page's failure summary --------------------------------------------------

_STAGE = re.compile(r"^(?:gave up after \d+ attempts: )?((?:RCPT|MAIL|DATA) \d{3})")
_ADDRESS = re.compile(r"<?[\w.+-]+@[\w.-]+>?")
_NUMBER = re.compile(r"\d+")


def failure_reason(error: str) -> str:
    """The reason an error belongs to: the SMTP stage and code, or its words without addresses and numbers."""
    match = _STAGE.match(error)
    gave_up = "gave up: " if error.startswith("gave up") else ""
    if match:
        return f"{gave_up}{match.group(1)}"
    text = _NUMBER.sub("N", _ADDRESS.sub("<address>", error.split(" (", 1)[0]))
    return text[:120] or "(no error text)"


def failure_summary(*, digest_id: int, examples: int = 3, readers: int = 50) -> dict:
    """Failed rows and rows waiting to retry, grouped by reason (most first) with example readers,
    plus the latest readers with their last error."""
    rows = Delivery.objects.filter(
        digest_id=digest_id, status__in=[Delivery.Status.FAILED, Delivery.Status.QUEUED]
    ).exclude(last_error__in=["", "paused"])
    groups: OrderedDict[str, dict] = OrderedDict()
    # One grouped query over distinct errors (bounded), merged into reasons here.
    for error, status, n in (
        rows.values_list("last_error", "status").annotate(n=Count("pk")).order_by("-n")[:500]
    ):
        reason = failure_reason(error)
        group = groups.setdefault(reason, {"reason": reason, "failed": 0, "retrying": 0, "errors": []})
        group["failed" if status == Delivery.Status.FAILED else "retrying"] += n
        if len(group["errors"]) < examples:
            group["errors"].append(error[:300])
    ordered = sorted(groups.values(), key=lambda g: -(g["failed"] + g["retrying"]))
    for group in ordered[:20]:
        group["examples"] = [
            {"id": pk, "email": email}
            for pk, email in rows.filter(last_error__in=group["errors"]).values_list(
                "subscriber_id", "subscriber__email"
            )[:examples]
        ]
    latest = [
        {"id": pk, "email": email, "status": status, "attempts": attempts, "last_error": error}
        for pk, email, status, attempts, error in rows.order_by("-pk").values_list(
            "subscriber_id", "subscriber__email", "status", "attempts", "last_error"
        )[:readers]
    ]
    return {"groups": ordered[:20], "readers": latest}


def without_addresses(summary: dict) -> dict:
    """The summary for someone who may not see addresses: readers by id, addresses in errors masked."""
    for group in summary["groups"]:
        group["errors"] = [_ADDRESS.sub("<address>", error) for error in group["errors"]]
        for example in group["examples"]:
            example["email"] = f"reader #{example['id']}"
    for row in summary["readers"]:
        row["email"] = f"reader #{row['id']}"
        row["last_error"] = _ADDRESS.sub("<address>", row["last_error"])
    return summary
