"""When a digest goes out: the schedule, the beat's due digests, and the editor's cancel and retry.

These are the state changes of a whole digest (scheduled, cancelled, sending again). They
start a send only through planning.start_send() and touch rows only through the ledger's
conditional updates; they must not send or render.
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from newsletters.delivery.ledger import Status, enqueue_due
from newsletters.delivery.planning import DeliveryError, start_send
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)


def default_send_time(digest: Digest) -> datetime.datetime:
    """DIGEST_SEND_TIME on the digest's day, in TIME_ZONE."""
    naive = datetime.datetime.combine(digest.date, settings.DIGEST_SEND_TIME)
    return timezone.make_aware(naive, timezone.get_default_timezone())


def schedule_send(*, digest_id: int, at: datetime.datetime | None = None) -> bool:
    """Schedule the digest (default: DIGEST_SEND_TIME on its day); False once it is sending or sent."""
    digest = Digest.objects.get(pk=digest_id)
    when = at or default_send_time(digest)
    return bool(
        Digest.objects.filter(
            pk=digest_id, status__in=[Digest.Status.DRAFT, Digest.Status.SCHEDULED, Digest.Status.CANCELLED]
        ).update(status=Digest.Status.SCHEDULED, scheduled_at=when)
    )


def send_due_digests() -> list[int]:
    """Start every scheduled digest whose time has come; the ids started."""
    started = []
    due = Digest.objects.filter(status=Digest.Status.SCHEDULED, scheduled_at__lte=timezone.now())
    for digest_id in due.values_list("pk", flat=True):
        try:
            if start_send(digest_id=digest_id):
                started.append(digest_id)
        except DeliveryError as exc:
            logger.warning("digest %s not sent: %s", digest_id, exc)
    return started


def cancel_send(*, digest_id: int) -> int:
    """Cancel the digest: rows not yet sent never will be; the number of rows stopped."""
    with transaction.atomic():
        Digest.objects.filter(
            pk=digest_id, status__in=[Digest.Status.DRAFT, Digest.Status.SCHEDULED, Digest.Status.SENDING]
        ).update(status=Digest.Status.CANCELLED)
        return Delivery.objects.filter(digest_id=digest_id, status=Status.QUEUED).update(
            status=Status.SKIPPED, last_error="cancelled by an editor"
        )


def retry_failed(*, digest_id: int) -> int:
    """Queue the failed rows of readers still active again; the number queued."""
    with transaction.atomic():
        queued = Delivery.objects.filter(
            digest_id=digest_id, status=Status.FAILED, subscriber__state=Subscriber.Status.ACTIVE
        ).update(status=Status.QUEUED, attempts=0, next_attempt_at=None, enqueued_at=None)
        if queued:
            Digest.objects.filter(pk=digest_id, status=Digest.Status.SENT).update(
                status=Digest.Status.SENDING
            )
            transaction.on_commit(lambda: enqueue_due(digest_id=digest_id))
    return queued
