"""The delivery ledger: one Delivery row per (digest, reader), and every change of its state.

Rows are put on the broker (enqueue_due), claimed with a conditional update (claim), kept
alive while their claimant runs (heartbeat), written final or back to the queue once the
server has answered (record_*, release), recovered within seconds when the claimant stopped
or the broker lost their task (sweep), and counted for the editor (delivery_progress). A
digest is marked sent here once every row is final.

Every write after the claim names the claim token, so a worker that lost its rows (the sweep
gave them to another) can never overwrite what the new claimant does; the one exception is
record_sent, below.

It must not talk to the mail backend or render anything: sending.py does that and calls
these functions with the outcome.
"""

import datetime
import random
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone

from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from subscribers.suppression import suppress

Status = Delivery.Status
SEND_PERMISSION = "newsletters.send_digest"


def require_send_permission(user) -> None:
    """Raise PermissionDenied unless the user may move digests or mail anyone but themselves.

    The one check behind every change of a digest's sending state (schedule.py) and every
    test send to another address (sending.py), whoever calls them: admin, command or API.
    """
    if user is None or not user.is_active or not user.has_perm(SEND_PERMISSION):
        raise PermissionDenied("sending needs the “Can send digests” permission")


@dataclass
class Row:
    """A claimed row, with what sending it needs."""

    id: int
    digest_id: int
    subscriber_id: int
    variant_id: int
    attempts: int
    email: str
    # The claim this row was taken under: every write about it matches this token too.
    token: str


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_at: datetime.datetime | None = None
    token: str = ""
    digest_ids: set[int] = field(default_factory=set)
    # Left when the database stayed down past the batch's own retries: messages the server
    # accepted that are not yet written, and claimed rows not yet given back (record_outcome).
    unrecorded: list[tuple[int, str, datetime.datetime]] = field(default_factory=list)
    unreleased: list[int] = field(default_factory=list)

    @property
    def retry_countdown(self) -> float:
        if self.retry_at is None:
            return 0.0
        return max(0.0, (self.retry_at - timezone.now()).total_seconds())


def _due() -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())


def heartbeat_timeout() -> datetime.timedelta:
    """How long a claim lives without a heartbeat: three missed beats."""
    return datetime.timedelta(seconds=3 * settings.DELIVERY_HEARTBEAT_SECONDS)


def enqueue_due(*, digest_id: int, lost_before: datetime.datetime | None = None) -> int:
    """Put every due queued row that no task holds onto the broker, a batch per task; the number of rows.

    lost_before: rows enqueued before this time have lost their task (the broker's queue is
    empty, e.g. after a Redis FLUSHALL), so they are put on the broker again.
    """
    # The one import back up the layers: enqueueing needs the task, and tasks call this package.
    from newsletters.tasks import send_batch as send_batch_task

    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    lost = now - lease if lost_before is None else max(lost_before, now - lease)
    waiting = (
        Delivery.objects.filter(digest_id=digest_id, status=Status.QUEUED)
        .filter(_due())
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost))
    )
    size = settings.DELIVERY_BATCH_SIZE
    count, after = 0, Q()
    while True:
        # In variant order, so that a batch holds one or two variants: a sending process then
        # needs only a few prebuilt messages at a time, however many variants the day has.
        page = list(
            waiting.filter(after).order_by("variant_id", "pk").values_list("variant_id", "pk")[: size * 20]
        )
        if not page:
            return count
        last_variant, last_pk = page[-1]
        after = Q(variant_id__gt=last_variant) | Q(variant_id=last_variant, pk__gt=last_pk)
        ids = [pk for _, pk in page]
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            Delivery.objects.filter(pk__in=batch).update(enqueued_at=now)
            send_batch_task.delay(batch)
            count += len(batch)


def enqueue_plan(*, digest_id: int) -> None:
    """Put the digest's planning (planning.plan_send) on the broker."""
    from newsletters.tasks import plan_send as plan_send_task

    plan_send_task.delay(digest_id)


def claim(delivery_ids: list[int]) -> tuple[str, int]:
    """Claim the due queued rows among these ids for this worker: (token, rows claimed)."""
    token = uuid.uuid4().hex
    now = timezone.now()
    # Conditional update (an optimistic lock): rows another worker claimed, or that are final,
    # do not match, so a row is sent by at most one live worker at a time.
    # Only rows of a digest that is sending: a paused digest's rows stay queued, unclaimed.
    claimed = (
        Delivery.objects.filter(pk__in=delivery_ids, status=Status.QUEUED)
        .filter(digest__status=Digest.Status.SENDING)
        .filter(_due())
        .update(
            status=Status.SENDING, claim=token, claimed_at=now, heartbeat_at=now, attempts=F("attempts") + 1
        )
    )
    return token, claimed


def heartbeat(token: str) -> int:
    """The claimant is alive: stamp its rows that are still sending; the number of rows."""
    return Delivery.objects.filter(claim=token, status=Status.SENDING).update(heartbeat_at=timezone.now())


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter after this many attempts."""
    delay = min(
        settings.DELIVERY_RETRY_MAX_SECONDS, settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    )
    return delay * random.uniform(0.5, 1.0)


def record_sent(accepted: list[tuple[int, str, datetime.datetime]], *, token: str) -> None:
    """The server accepted these (row id, Message-ID, time) messages: their rows are final, in one UPDATE.

    Rows still held under this token, and also rows the sweep gave back to the queue meanwhile
    (a database outage outlived the heartbeat): the server accepted those messages, so marking
    them sent is the truth, and not marking them would send them again. A row another worker
    claimed since, or one already final, is left alone.
    """
    if not accepted:
        return
    # Raw SQL because the ORM's CASE WHEN per row cost 0.4 ms of CPU per message to compile,
    # more than the rest of the bookkeeping together. UPDATE ... FROM (VALUES ...) runs on
    # PostgreSQL and SQLite (3.33+); VALUES names its columns column1, column2, ...
    table = connection.ops.quote_name(Delivery._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(accepted))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, message_id = sent.column2, sent_at = sent.column3,"
            f" last_error = '', claim = '' FROM (VALUES {rows}) AS sent WHERE {table}.id = sent.column1"
            f" AND ({table}.claim = %s OR ({table}.status = %s AND {table}.claim = ''))",
            [Status.SENT, *(value for row in accepted for value in row), token, Status.QUEUED],
        )


def record_skipped(row_id: int, reason: str, *, token: str) -> None:
    """A claimed row that must not be sent after all (the reader left, the digest stopped)."""
    Delivery.objects.filter(pk=row_id, claim=token).update(status=Status.SKIPPED, last_error=reason, claim="")


def record_failed(row: Row, error: str, *, suppress_address: bool) -> None:
    """A permanent refusal: the row is final, and a refused address is suppressed."""
    Delivery.objects.filter(pk=row.id, claim=row.token).update(
        status=Status.FAILED, last_error=error[:2000], claim=""
    )
    if suppress_address:
        suppress(row.email, reason=Subscriber.Status.BOUNCED, source="smtp", detail=error[:2000])


def record_retry(row: Row, error: str, result: BatchResult) -> None:
    """A transient failure: back to the queue after a backoff, or failed after the last attempt."""
    if row.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        record_failed(row, f"gave up after {row.attempts} attempts: {error}", suppress_address=False)
        result.failed += 1
        return
    at = timezone.now() + datetime.timedelta(seconds=backoff_seconds(row.attempts))
    Delivery.objects.filter(pk=row.id, claim=row.token).update(
        status=Status.QUEUED, next_attempt_at=at, enqueued_at=at, last_error=error[:2000], claim=""
    )
    result.retry_ids.append(row.id)
    result.retry_at = max(result.retry_at or at, at)


def is_sending(digest_id: int) -> bool:
    """Whether the digest is still sending (not paused): checked between messages of a batch."""
    return Digest.objects.filter(pk=digest_id, status=Digest.Status.SENDING).exists()


def release(rows: list[Row], result: BatchResult, *, reason: str, retry: bool = True) -> None:
    """Give claimed rows that were not tried back to the queue, without spending an attempt.

    retry=False when the digest was paused: resume enqueues them again, not this batch.
    """
    if not rows:
        return
    ids = [row.id for row in rows]
    release_ids(ids, token=rows[0].token, reason=reason)
    if retry:
        result.retry_ids.extend(ids)
        result.retry_at = result.retry_at or timezone.now()


def release_ids(ids: list[int], *, token: str, reason: str) -> int:
    """Give these rows back to the queue if this claim still holds them; the number given back."""
    if not ids:
        return 0
    return Delivery.objects.filter(pk__in=ids, claim=token, status=Status.SENDING).update(
        status=Status.QUEUED,
        attempts=F("attempts") - 1,
        claim="",
        enqueued_at=timezone.now(),
        last_error=reason,
    )


def finish_if_done(*, digest_id: int) -> bool:
    """Mark the digest sent once its audience is fixed and every row is final; True if this call did it.

    A digest whose rows failed and none was delivered is "failed", never "sent" (and so never
    in the archive).
    """
    if Delivery.objects.filter(digest_id=digest_id, status__in=[Status.QUEUED, Status.SENDING]).exists():
        return False
    rows = Delivery.objects.filter(digest_id=digest_id)
    fields = {"status": Digest.Status.SENT, "sent_at": timezone.now(), "status_note": ""}
    if not rows.filter(status=Status.SENT).exists() and rows.filter(status=Status.FAILED).exists():
        failed = rows.filter(status=Status.FAILED).count()
        fields = {
            "status": Digest.Status.FAILED,
            "status_note": f"not delivered to anyone: {failed} failed (see the failures below)",
        }
    return bool(
        Digest.objects.filter(pk=digest_id, status=Digest.Status.SENDING, planned_at__isnull=False).update(
            **fields
        )
    )


def sweep(*, broker_empty: bool = False) -> dict[str, int]:
    """Re-queue rows whose claimant stopped, enqueue due rows (again if their task was lost), finish sends.

    broker_empty: the broker holds no send_batch message, so queued rows enqueued more than a
    heartbeat ago have lost their task (a Redis FLUSHALL, a broker restarted without its data).
    """
    now = timezone.now()
    expired = now - datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    silent = now - heartbeat_timeout()
    # The claimant's heartbeat stopped (it was killed, or lost the database), or it outlived
    # the lease (the task's hard time limit is the lease, so it is gone).
    stale = Delivery.objects.filter(status=Status.SENDING).filter(
        Q(heartbeat_at__lt=silent)
        | Q(heartbeat_at__isnull=True, claimed_at__lt=silent)
        | Q(claimed_at__lt=expired)
    )
    # The message may or may not have gone out.
    gave_up = stale.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS).update(
        status=Status.FAILED, claim="", last_error="gave up: the worker stopped during every attempt"
    )
    # Due two heartbeats later, not at once: a claimant that was only cut off from the database
    # (it retries every second or so) records what the server accepted (record_sent) before
    # anyone sends it again.
    requeued = stale.update(
        status=Status.QUEUED,
        claim="",
        enqueued_at=None,
        next_attempt_at=now + datetime.timedelta(seconds=2 * settings.DELIVERY_HEARTBEAT_SECONDS),
        last_error="the worker stopped: no heartbeat",
    )
    lost_before = None
    if broker_empty:
        lost_before = now - datetime.timedelta(seconds=settings.DELIVERY_HEARTBEAT_SECONDS)
    enqueued = finished = 0
    for digest_id in Digest.objects.filter(status=Digest.Status.SENDING).values_list("pk", flat=True):
        enqueued += enqueue_due(digest_id=digest_id, lost_before=lost_before)
        finished += finish_if_done(digest_id=digest_id)
    return {"requeued": requeued, "gave_up": gave_up, "enqueued": enqueued, "finished": finished}


def delivery_progress(digest: Digest) -> dict:
    """Counts by status (one grouped query), the rate over the last minute and the time left."""
    counts = {status: 0 for status in Status.values}
    for row in Delivery.objects.filter(digest=digest).values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    since = timezone.now() - datetime.timedelta(seconds=60)
    recent = Delivery.objects.filter(digest=digest, status=Status.SENT, sent_at__gte=since).count()
    rate = recent / 60
    remaining = counts[Status.QUEUED] + counts[Status.SENDING]
    status, planned_at, note = (
        Digest.objects.filter(pk=digest.pk).values_list("status", "planned_at", "status_note").first()
    )
    return {
        "status": status,
        "planned": planned_at is not None,
        "note": note,
        "counts": counts,
        "total": sum(counts.values()),
        "remaining": remaining,
        "rate_per_second": round(rate, 2),
        "eta_seconds": round(remaining / rate) if rate else None,
    }
