"""Every change of a digest's sending state, and who may make it.

schedule_send, send_now, cancel_send, resume_send and retry_failed are the only ways an
editor moves a digest (the admin, commands and any future API call them); each takes the
acting user and raises PermissionDenied without `newsletters.send_digest`. send_due_digests
is beat's: it starts what a permitted user scheduled, under the catch-up policy (at most one
digest per tick, none later than DIGEST_MAX_LATENESS: those become "missed" and staff are
mailed). available_actions() says which of these a digest's state allows, for the buttons.

These are state changes of a whole digest. They start a send only through planning and touch
rows only through conditional updates; they must not send or render.
"""

import datetime
import logging

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from newsletters.delivery import policies
from newsletters.delivery.ledger import (
    Status,
    enqueue_due,
    enqueue_plan,
    finish_if_done,
    require_send_permission,
)
from newsletters.delivery.planning import DeliveryError, begin_send, plan_send
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)

# States whose failed rows Retry failed may queue again (a failed digest goes back to sending).
RETRYABLE = (Digest.Status.SENT, Digest.Status.SENDING, Digest.Status.FAILED)
# The furthest ahead a digest may be scheduled: anything later is a typo.
MAX_SCHEDULE_AHEAD = datetime.timedelta(days=366)


class ScheduleError(DeliveryError):
    """A schedule that makes no sense (in the past, too far ahead); the message says why."""


def next_send_time(digest: Digest, *, now: datetime.datetime | None = None) -> datetime.datetime:
    """The first DIGEST_SEND_TIME (in TIME_ZONE) that is on or after the digest's day and in the future."""
    now = now or timezone.now()
    zone = timezone.get_default_timezone()
    day = max(digest.date, timezone.localtime(now, zone).date())
    while True:
        at = timezone.make_aware(datetime.datetime.combine(day, settings.DIGEST_SEND_TIME), zone)
        if at > now:
            return at
        day += datetime.timedelta(days=1)


def schedule_send(*, digest_id: int, user, at: datetime.datetime | None = None) -> datetime.datetime:
    """Schedule the digest (default: next_send_time); the time set. Refuses the past: use send_now."""
    require_send_permission(user)
    digest = Digest.objects.get(pk=digest_id)
    when = at or next_send_time(digest)
    now = timezone.now()
    if when <= now:
        raise ScheduleError(
            f"{timezone.localtime(when):%Y-%m-%d %H:%M %Z} is in the past; use Send now to send it now."
        )
    if when > now + MAX_SCHEDULE_AHEAD:
        raise ScheduleError(f"{timezone.localtime(when):%Y-%m-%d} is more than a year ahead.")
    changed = Digest.objects.filter(pk=digest_id, status__in=Digest.UNSENT_STATUSES).update(
        status=Digest.Status.SCHEDULED, scheduled_at=when, status_note=""
    )
    if not changed:
        raise ScheduleError(f"a {Digest.objects.get(pk=digest_id).status} digest cannot be scheduled.")
    return when


def send_now(*, digest_id: int, user) -> bool:
    """Start sending at once: the digest says "sending" when this returns; the audience is fixed
    by a task after commit. False when it was already started (a double click)."""
    require_send_permission(user)
    with transaction.atomic():
        won = begin_send(digest_id=digest_id, from_statuses=Digest.UNSENT_STATUSES)
        if won:
            transaction.on_commit(lambda: enqueue_plan(digest_id=digest_id))
    return won


def cancel_send(*, digest_id: int, user) -> str:
    """Stop the digest: a schedule is dropped (back to draft), a send is paused; the new status."""
    require_send_permission(user)
    with transaction.atomic():
        waiting = [Digest.Status.SCHEDULED, Digest.Status.MISSED]
        if Digest.objects.filter(pk=digest_id, status__in=waiting).update(
            status=Digest.Status.DRAFT, scheduled_at=None, status_note=""
        ):
            return Digest.Status.DRAFT
        # Workers claim only rows of a sending digest and look again between groups of
        # messages, so this stops new claims at once; rows already on the wire finish.
        if Digest.objects.filter(pk=digest_id, status=Digest.Status.SENDING).update(
            status=Digest.Status.PAUSED, status_note="paused by an editor"
        ):
            return Digest.Status.PAUSED
    status = Digest.objects.get(pk=digest_id).status
    raise DeliveryError(f"a {status} digest cannot be cancelled.")


def resume_send(*, digest_id: int, user) -> int:
    """Continue a paused send with exactly the rows not sent; never re-plans. The rows queued."""
    require_send_permission(user)
    with transaction.atomic():
        # connection_failures=0: the editor says the cause is fixed; count afresh.
        if not Digest.objects.filter(pk=digest_id, status=Digest.Status.PAUSED).update(
            status=Digest.Status.SENDING, status_note="", connection_failures=0
        ):
            status = Digest.objects.get(pk=digest_id).status
            raise DeliveryError(f"a {status} digest cannot be resumed.")
        planned = Digest.objects.filter(pk=digest_id, planned_at__isnull=False).exists()
        # Tasks of these rows may have run during the pause and claimed nothing: enqueue afresh.
        # A stale task still on the broker is harmless: the conditional claim lets one win.
        queued = Delivery.objects.filter(digest_id=digest_id, status=Status.QUEUED).update(
            enqueued_at=None, next_attempt_at=None
        )
        if planned:
            transaction.on_commit(lambda: enqueue_due(digest_id=digest_id))
            transaction.on_commit(lambda: finish_if_done(digest_id=digest_id))
        else:
            transaction.on_commit(lambda: enqueue_plan(digest_id=digest_id))
    return queued


# How the ledger begins the error of a row that failed only by giving up on temporary trouble
# (4xx replies, lost connections, a worker dying during every attempt): ledger.record_retry, sweep.
GAVE_UP = "gave up"


def retryable_failures(digest_id: int):
    """Failed rows worth another try: those whose reader is still active.

    A refusal of the address itself (5xx at RCPT, an ESP's "recipient refused") suppressed the
    reader, so their row stays failed, and so does that of a reader who left since. Rows that
    gave up after temporary errors, or failed on our side (sender or message refused, an error
    in the code), are retried: their cause may be gone. So is an address staff cleared.
    """
    return Delivery.objects.filter(
        digest_id=digest_id, status=Status.FAILED, subscriber__state=Subscriber.Status.ACTIVE
    )


def failures_by_kind(digest_id: int) -> dict[str, int]:
    """Failed rows by kind, in one query: "transient" and "other" are what retry_failed queues
    again; "reader" (the address refused or suppressed, the reader gone) it never does."""
    active = Q(subscriber__state=Subscriber.Status.ACTIVE)
    transient = Q(last_error__startswith=GAVE_UP)
    return Delivery.objects.filter(digest_id=digest_id, status=Status.FAILED).aggregate(
        transient=Count("pk", filter=active & transient),
        other=Count("pk", filter=active & ~transient),
        reader=Count("pk", filter=~active),
    )


def retry_failed(*, digest_id: int, user) -> int:
    """Queue the retryable failed rows again (a sent digest goes back to sending); the number queued."""
    require_send_permission(user)
    with transaction.atomic():
        digest = Digest.objects.select_for_update().get(pk=digest_id)
        if digest.status not in (*RETRYABLE, Digest.Status.PAUSED):
            raise DeliveryError(f"a {digest.status} digest has no failed deliveries to retry.")
        queued = retryable_failures(digest_id).update(
            status=Status.QUEUED, attempts=0, next_attempt_at=None, enqueued_at=None
        )
        if queued and digest.status != Digest.Status.PAUSED:
            sent = Digest.objects.filter(pk=digest_id, status__in=(Digest.Status.SENT, Digest.Status.FAILED))
            sent.update(status=Digest.Status.SENDING, status_note="")
            transaction.on_commit(lambda: enqueue_due(digest_id=digest_id))
    return queued


def available_actions(digest: Digest, counts: dict[str, int] | None = None) -> list[str]:
    """The actions the digest's state allows, in the order the page shows them."""
    status = digest.status
    actions = []
    if status in Digest.UNSENT_STATUSES:
        actions += ["send-now", "schedule"]
    if status in (Digest.Status.SCHEDULED, Digest.Status.MISSED, Digest.Status.SENDING):
        actions.append("cancel")
    if status == Digest.Status.PAUSED:
        actions.append("resume")
    if status in (*RETRYABLE, Digest.Status.PAUSED):
        maybe_failed = counts is None or counts.get(Status.FAILED, 0) > 0
        if maybe_failed and retryable_failures(digest.pk).exists():
            actions.append("retry-failed")
    return actions


def send_due_digests() -> list[int]:
    """Beat's tick: start the newest due digest if it is not too late; mark the rest missed.

    At most one digest goes out automatically per tick, so a beat back from an outage sends
    one day, not a week of them; a failure of one digest never blocks the others.
    """
    now = timezone.now()
    due = list(
        Digest.objects.filter(status=Digest.Status.SCHEDULED, scheduled_at__lte=now)
        .order_by("-scheduled_at", "-date")
        .values_list("pk", "scheduled_at")
    )
    started, missed = [], []
    for digest_id, scheduled_at in due:
        late = now - scheduled_at
        if late > settings.DIGEST_MAX_LATENESS:
            missed.append((digest_id, f"not sent: {_duration(late)} late, past the lateness limit"))
            continue
        if started:
            missed.append((digest_id, "not sent: a newer digest went out in the same send slot"))
            continue
        hold = policies.hold_reason(digest_id=digest_id)
        if hold:
            policies.pause(digest_id=digest_id, reason=hold, from_statuses=(Digest.Status.SCHEDULED,))
            continue
        try:
            if not begin_send(digest_id=digest_id, from_statuses=(Digest.Status.SCHEDULED,)):
                continue  # another beat or an editor got there first
        except Exception as exc:  # noqa: BLE001 - one broken digest must not stop the others
            logger.exception("digest %s could not start", digest_id)
            missed.append((digest_id, f"not sent: {exc}"))
            continue
        started.append(digest_id)
        try:
            plan_send(digest_id=digest_id)
        except Exception:  # noqa: BLE001 - plan_send paused it and told staff why
            logger.exception("digest %s could not be planned", digest_id)
    marked = mark_missed(missed)
    if marked:
        notify_missed(marked)
    return started


def mark_missed(reasons: list[tuple[int, str]]) -> list[Digest]:
    """Turn these scheduled digests into missed ones, with the reason; the digests changed."""
    changed = []
    for digest_id, reason in reasons:
        if Digest.objects.filter(pk=digest_id, status=Digest.Status.SCHEDULED).update(
            status=Digest.Status.MISSED, status_note=reason
        ):
            changed.append(Digest.objects.get(pk=digest_id))
    return changed


def notify_missed(digests: list[Digest]) -> None:
    """Mail staff (ADMINS) about digests beat did not send."""
    lines = [
        f"{digest.date}: scheduled for {timezone.localtime(digest.scheduled_at):%Y-%m-%d %H:%M %Z}; "
        f"{digest.status_note}"
        for digest in digests
    ]
    mail_admins(
        f"{len(digests)} digest(s) missed",
        "These scheduled digests were not sent automatically:\n\n"
        + "\n".join(lines)
        + "\n\nOpen each one's Delivery page to send it by hand, schedule it again, or leave it.",
        fail_silently=True,
    )


def missed_digests() -> list[Digest]:
    """The digests awaiting an editor's decision after beat did not send them (the admin banner)."""
    return list(Digest.objects.filter(Q(status=Digest.Status.MISSED)).order_by("-date")[:20])


def _duration(delta: datetime.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"
