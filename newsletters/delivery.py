"""The daily send: fix the audience, render each variant once, keep the Delivery ledger, send.

start_send() flips a digest to sending (only one trigger can win), maps every active reader to
the entries matching their tags, renders each distinct (entries, language) variant once into a
DigestVariant row and creates one Delivery row per reader. send_batch() claims rows, sends them
over one connection and records each outcome right after the server answers (accepted messages in
groups of at most RECORD_EVERY, one UPDATE per group). sweep() recovers
what killed workers left behind and marks a digest sent once every row is final.

This is the only code that talks to the mail backend. It never renders per reader (messages.py
substitutes the reader's links into the variant's prebuilt MIME), never holds a transaction
open while talking SMTP, and never lets an exception pass without writing it on the row.
"""

import datetime
import hashlib
import logging
import random
import smtplib
import ssl
import time
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from newsletters import ratelimit
from newsletters.emailcontent import email_entries_for, render_variant
from newsletters.messages import MessageTemplate, build_message_template, make_message_id, site_domain
from newsletters.models import Delivery, Digest, DigestVariant, Entry, EntryTag
from subscribers import links
from subscribers.models import Subscriber
from subscribers.suppression import suppress

logger = logging.getLogger(__name__)

Status = Delivery.Status
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
AUDIENCE_CHUNK = 2000
# Accepted messages are written to the ledger in small groups, one UPDATE per group: one
# UPDATE and commit per message cost more than the SMTP transfer itself. The price: a worker
# killed before a group is written leaves up to RECORD_EVERY messages the server accepted but
# the ledger does not show; the sweep re-queues them and those readers get a second copy with
# the same Message-ID. So "in flight" is at most RECORD_EVERY messages per sending process, and
# never older than RECORD_SECONDS.
RECORD_EVERY = 10
RECORD_SECONDS = 0.2
# Variants whose prebuilt MIME a sending process keeps (about 70 KB each), least recently used
# going first. Batches come in variant order (enqueue_due), so a few suffice.
TEMPLATE_CACHE_SIZE = 16
# Renders made by this process; the benchmark compares it with the number of variants.
render_count = 0


class DeliveryError(Exception):
    """A send that cannot start, e.g. a digest with no ready entry."""


class TransientSendError(Exception):
    """The server or the network failed in a way worth trying again (4xx, disconnect, timeout)."""


class PermanentSendError(Exception):
    """The server refused this message for good (5xx)."""

    def __init__(self, message: str, *, suppress_address: bool) -> None:
        super().__init__(message)
        self.suppress_address = suppress_address


class ConnectionLost(TransientSendError):
    """The connection is gone: the rest of the batch cannot go over it."""


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_at: datetime.datetime | None = None

    @property
    def retry_countdown(self) -> float:
        if self.retry_at is None:
            return 0.0
        return max(0.0, (self.retry_at - timezone.now()).total_seconds())


# --- Starting a send ----------------------------------------------------------------


def start_send(*, digest_id: int) -> int:
    """Start sending the digest; the number of readers queued (0 when another trigger won)."""
    if not Entry.objects.ready().filter(digest_id=digest_id).exists():
        raise DeliveryError("the digest has no ready entry to send")
    with transaction.atomic():
        # Conditional update: of two triggers at once (double click, beat and the command),
        # exactly one changes the row; the other sees 0 and leaves.
        won = Digest.objects.filter(
            pk=digest_id, status__in=[Digest.Status.DRAFT, Digest.Status.SCHEDULED]
        ).update(status=Digest.Status.SENDING, sent_at=None)
        if not won:
            return 0
        digest = Digest.objects.get(pk=digest_id)
        queued = create_deliveries(digest=digest)
        transaction.on_commit(lambda: enqueue_due(digest_id=digest_id))
        transaction.on_commit(lambda: finish_if_done(digest_id=digest_id))
    logger.info("digest %s: %s readers queued", digest.date, queued)
    return queued


def variant_key(entry_ids: tuple[int, ...], language: str) -> str:
    """A short stable name for (entries, language)."""
    return hashlib.sha1(f"{language}:{','.join(map(str, entry_ids))}".encode()).hexdigest()


def matching_entries(
    reader_tags: frozenset[int], entries: list[tuple[int, frozenset[int]]]
) -> tuple[int, ...]:
    """The entry ids (in the editor's order) a reader with these tags gets; no tags means all."""
    if not reader_tags:
        return tuple(entry_id for entry_id, _ in entries)
    return tuple(entry_id for entry_id, tags in entries if tags & reader_tags)


def active_readers(chunk_size: int = AUDIENCE_CHUNK) -> Iterator[list[tuple[int, str, frozenset[int]]]]:
    """Active readers as (id, language, tag ids), a chunk at a time, so memory stays flat."""
    through = Subscriber.tags.through
    last = 0
    while True:
        chunk = list(
            Subscriber.objects.active()
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "language")[:chunk_size]
        )
        if not chunk:
            return
        last = chunk[-1][0]
        tags: dict[int, set[int]] = defaultdict(set)
        for subscriber_id, tag_id in through.objects.filter(
            subscriber_id__gte=chunk[0][0], subscriber_id__lte=last
        ).values_list("subscriber_id", "tag_id"):
            tags[subscriber_id].add(tag_id)
        yield [(pk, language, frozenset(tags.get(pk, ()))) for pk, language in chunk]


def ready_entries(digest: Digest) -> list[tuple[int, frozenset[int]]]:
    """The digest's ready entries as (id, tag ids), in the editor's order."""
    entry_ids = list(digest.ordered_entries().filter(status=Entry.Status.READY).values_list("pk", flat=True))
    entry_tags: dict[int, set[int]] = defaultdict(set)
    for entry_id, tag_id in EntryTag.objects.filter(entry_id__in=entry_ids).values_list("entry_id", "tag_id"):
        entry_tags[entry_id].add(tag_id)
    return [(entry_id, frozenset(entry_tags[entry_id])) for entry_id in entry_ids]


def plan_audience(*, digest: Digest) -> dict:
    """What a send would do now, writing nothing: readers, readers skipped, and readers per variant."""
    entries = ready_entries(digest)
    variants: Counter[tuple[tuple[int, ...], str]] = Counter()
    skipped = 0
    for chunk in active_readers():
        for _, language, tags in chunk:
            matched = matching_entries(tags, entries)
            if matched:
                variants[(matched, language)] += 1
            else:
                skipped += 1
    return {
        "readers": sum(variants.values()),
        "variants": len(variants),
        "skipped": skipped,
        "by_variant": [
            {"entry_ids": list(ids), "language": language, "readers": count}
            for (ids, language), count in variants.most_common()
        ],
    }


def send_test(*, digest: Digest, entry_ids: list[int], language: str, to: str) -> str:
    """Send one variant to an editor's own address, with placeholder links; the Message-ID."""
    rendered = render_variant(digest=digest, entry_ids=entry_ids, language=language)
    template = build_message_template(rendered)
    message_id = f"<test-{uuid.uuid4().hex}@{site_domain()}>"
    fields = {
        "to": to,
        "message_id": message_id,
        "unsubscribe_url": f"{settings.SITE_URL}/",
        "unsubscribe_mailto": f"mailto:{settings.UNSUBSCRIBE_MAILTO}",
        "preferences_url": f"{settings.SITE_URL}/",
    }
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        sender = SMTPSender()
        try:
            sender.connection = sender._connect()
            sender.connection.sendmail(
                parseaddr(settings.DEFAULT_FROM_EMAIL)[1], [to], template.render(**fields)
            )
        finally:
            sender.close()
    else:
        template.as_django_message(**fields).send()
    return message_id


def create_deliveries(*, digest: Digest) -> int:
    """Fix the audience: one Delivery row per active reader, each variant rendered once."""
    global render_count
    entries = ready_entries(digest)
    email_entries = email_entries_for(digest)
    matches: dict[frozenset[int], tuple[int, ...]] = {}
    variants: dict[tuple[tuple[int, ...], str], int] = {}
    readers: Counter[int] = Counter()
    queued = 0
    for chunk in active_readers():
        rows = []
        for subscriber_id, language, tags in chunk:
            if tags not in matches:
                matches[tags] = matching_entries(tags, entries)
            matched = matches[tags]
            if not matched:
                rows.append(
                    Delivery(
                        digest=digest,
                        subscriber_id=subscriber_id,
                        status=Status.SKIPPED,
                        last_error="no entry matches the reader's tags",
                    )
                )
                continue
            if (matched, language) not in variants:
                rendered = render_variant(
                    digest=digest, entry_ids=list(matched), language=language, email_entries=email_entries
                )
                render_count += 1
                variants[(matched, language)] = DigestVariant.objects.create(
                    digest=digest,
                    key=variant_key(matched, language),
                    language=language,
                    entry_ids=list(matched),
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                ).pk
            variant_id = variants[(matched, language)]
            readers[variant_id] += 1
            rows.append(Delivery(digest=digest, subscriber_id=subscriber_id, variant_id=variant_id))
            queued += 1
        Delivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    for variant_id, count in readers.items():
        DigestVariant.objects.filter(pk=variant_id).update(reader_count=count)
    return queued


# --- Enqueueing -----------------------------------------------------------------------


def _due() -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())


def enqueue_due(*, digest_id: int) -> int:
    """Put every due queued row that no task holds onto the broker, a batch per task; the number of rows."""
    from newsletters.tasks import send_batch as send_batch_task

    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    waiting = (
        Delivery.objects.filter(digest_id=digest_id, status=Status.QUEUED)
        .filter(_due())
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - lease))
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


# --- Sending a batch --------------------------------------------------------------------


def claim(delivery_ids: list[int]) -> tuple[str, int]:
    """Claim the due queued rows among these ids for this worker: (token, rows claimed)."""
    token = uuid.uuid4().hex
    # Conditional update (an optimistic lock): rows another worker claimed, or that are final,
    # do not match, so a row is sent by at most one live worker at a time.
    claimed = (
        Delivery.objects.filter(pk__in=delivery_ids, status=Status.QUEUED)
        .filter(_due())
        .update(status=Status.SENDING, claim=token, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    )
    return token, claimed


@dataclass
class _Row:
    id: int
    digest_id: int
    subscriber_id: int
    variant_id: int
    attempts: int
    email: str


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter after this many attempts."""
    delay = min(
        settings.DELIVERY_RETRY_MAX_SECONDS, settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    )
    return delay * random.uniform(0.5, 1.0)


_templates: OrderedDict[int, MessageTemplate] = OrderedDict()


def variant_template(variant_id: int) -> MessageTemplate:
    """The variant's prebuilt message, built once per sending process, never per reader."""
    if variant_id in _templates:
        _templates.move_to_end(variant_id)
        return _templates[variant_id]
    from newsletters.rendering import RenderedEmail

    variant = DigestVariant.objects.only("subject", "text", "html").get(pk=variant_id)
    template = build_message_template(
        RenderedEmail(subject=variant.subject, text=variant.text, html=variant.html)
    )
    _templates[variant_id] = template
    if len(_templates) > TEMPLATE_CACHE_SIZE:
        _templates.popitem(last=False)
    return template


def reader_fields(row: _Row, domain: str) -> dict[str, str]:
    """The reader's own parts of the message: address, Message-ID and signed links."""
    reader = Subscriber(pk=row.subscriber_id)
    unsubscribe_url, unsubscribe_mailto = links.unsubscribe_links(reader)
    return {
        "to": row.email,
        "message_id": make_message_id(
            digest_id=row.digest_id, subscriber_id=row.subscriber_id, domain=domain
        ),
        "unsubscribe_url": unsubscribe_url,
        "unsubscribe_mailto": unsubscribe_mailto,
        "preferences_url": links.preferences_url(reader),
    }


def send_batch(delivery_ids: list[int]) -> BatchResult:
    """Claim these rows, send each over one connection, record outcomes right after the server answers."""
    result = BatchResult()
    token, claimed = claim(delivery_ids)
    if not claimed:
        return result
    rows = list(
        Delivery.objects.filter(claim=token, status=Status.SENDING)
        .order_by("pk")
        .values_list(
            "pk",
            "digest_id",
            "subscriber_id",
            "variant_id",
            "attempts",
            "subscriber__email",
            "subscriber__state",
            "digest__status",
        )
    )
    sendable: list[_Row] = []
    for pk, digest_id, subscriber_id, variant_id, attempts, email, state, digest_status in rows:
        # Checked after the claim: a reader who left during the send, or a cancelled digest,
        # gets nothing from here on.
        reason = ""
        if digest_status != Digest.Status.SENDING:
            reason = f"digest {digest_status}"
        elif state != Subscriber.Status.ACTIVE:
            reason = f"reader {state} before sending"
        if reason:
            Delivery.objects.filter(pk=pk).update(status=Status.SKIPPED, last_error=reason)
            result.skipped += 1
        else:
            sendable.append(_Row(pk, digest_id, subscriber_id, variant_id, attempts, email))
    if sendable:
        _send_rows(sendable, result)
    for digest_id in {row[1] for row in rows}:
        finish_if_done(digest_id=digest_id)
    return result


def _send_rows(rows: list[_Row], result: BatchResult) -> None:
    deadline = time.monotonic() + settings.DELIVERY_LEASE_SECONDS / 2
    domain = site_domain()
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    accepted: list[tuple[int, str, datetime.datetime]] = []
    oldest = 0.0
    sender = open_sender()
    try:
        for index, row in enumerate(rows):
            if time.monotonic() > deadline:
                # Stop well inside the lease (and the broker's visibility timeout); the rest
                # goes back to the queue untouched.
                _release(rows[index:], result, reason="")
                return
            ratelimit.acquire()
            if accepted and (len(accepted) >= RECORD_EVERY or time.monotonic() - oldest >= RECORD_SECONDS):
                record_sent(accepted)
                accepted = []
            try:
                message_id = sender.send(row, from_address=from_address, fields=reader_fields(row, domain))
            except PermanentSendError as exc:
                record_failed(row, str(exc), suppress_address=exc.suppress_address)
                result.failed += 1
            except ConnectionLost as exc:
                record_retry(row, str(exc), result)
                _release(rows[index + 1 :], result, reason=str(exc))
                return
            except TransientSendError as exc:
                record_retry(row, str(exc), result)
            except Exception as exc:
                # Anything unforeseen (a bad address, a bug) is written on the row, never lost.
                record_failed(row, f"{type(exc).__name__}: {exc}", suppress_address=False)
                result.failed += 1
                logger.exception("delivery %s failed", row.id)
            else:
                if not accepted:
                    oldest = time.monotonic()
                accepted.append((row.id, message_id, timezone.now()))
                result.sent += 1
    finally:
        # Written before anything else, even when the loop stops on an error: these were sent.
        record_sent(accepted)
        sender.close()


def record_sent(accepted: list[tuple[int, str, datetime.datetime]]) -> None:
    """The server accepted these (row id, Message-ID, time) messages: their rows are final, in one UPDATE."""
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
            f" last_error = '', claim = '' FROM (VALUES {rows}) AS sent WHERE {table}.id = sent.column1",
            [Status.SENT, *(value for row in accepted for value in row)],
        )


def record_failed(row: _Row, error: str, *, suppress_address: bool) -> None:
    """A permanent refusal: the row is final, and a refused address is suppressed."""
    Delivery.objects.filter(pk=row.id).update(status=Status.FAILED, last_error=error[:2000], claim="")
    if suppress_address:
        suppress(row.email, reason=Subscriber.Status.BOUNCED, source="smtp", detail=error[:2000])


def record_retry(row: _Row, error: str, result: BatchResult) -> None:
    """A transient failure: back to the queue after a backoff, or failed after the last attempt."""
    if row.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        record_failed(row, f"gave up after {row.attempts} attempts: {error}", suppress_address=False)
        result.failed += 1
        return
    at = timezone.now() + datetime.timedelta(seconds=backoff_seconds(row.attempts))
    Delivery.objects.filter(pk=row.id).update(
        status=Status.QUEUED, next_attempt_at=at, enqueued_at=at, last_error=error[:2000], claim=""
    )
    result.retry_ids.append(row.id)
    result.retry_at = max(result.retry_at or at, at)


def _release(rows: list[_Row], result: BatchResult, *, reason: str) -> None:
    """Give claimed rows that were not tried back to the queue, without spending an attempt."""
    if not rows:
        return
    ids = [row.id for row in rows]
    Delivery.objects.filter(pk__in=ids, status=Status.SENDING).update(
        status=Status.QUEUED,
        attempts=F("attempts") - 1,
        claim="",
        enqueued_at=timezone.now(),
        last_error=reason,
    )
    result.retry_ids.extend(ids)
    result.retry_at = result.retry_at or timezone.now()


def finish_if_done(*, digest_id: int) -> bool:
    """Mark the digest sent once every row is final; True if this call did it."""
    if Delivery.objects.filter(digest_id=digest_id, status__in=[Status.QUEUED, Status.SENDING]).exists():
        return False
    return bool(
        Digest.objects.filter(pk=digest_id, status=Digest.Status.SENDING).update(
            status=Digest.Status.SENT, sent_at=timezone.now()
        )
    )


# --- The mail backend -------------------------------------------------------------------


class SMTPSender:
    """One smtplib connection for a batch, with SMTP replies sorted into permanent and transient."""

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cls = smtplib.SMTP_SSL if settings.EMAIL_USE_SSL else smtplib.SMTP
        connection = cls(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=settings.EMAIL_TIMEOUT)
        if settings.EMAIL_USE_TLS:
            connection.starttls(context=ssl.create_default_context())
        if settings.EMAIL_HOST_USER:
            connection.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        return connection

    def send(self, row: _Row, *, from_address: str, fields: dict[str, str]) -> str:
        data = variant_template(row.variant_id).render(**fields)
        try:
            if self.connection is None:
                self.connection = self._connect()
            self.connection.sendmail(from_address, [row.email], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            self._raise_for(code, reply, "RCPT", suppress_address=True)
        except smtplib.SMTPSenderRefused as exc:
            # Our sender address was refused: never the reader's fault, so no suppression.
            self._raise_for(exc.smtp_code, exc.smtp_error, "MAIL", suppress_address=False)
        except smtplib.SMTPResponseException as exc:
            # A refusal after DATA is about the message (content, policy), not the address.
            self._raise_for(exc.smtp_code, exc.smtp_error, "DATA", suppress_address=False)
        except (smtplib.SMTPException, OSError) as exc:
            self.connection = None
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc
        return fields["message_id"]

    def _raise_for(self, code: int, reply: bytes | str, stage: str, *, suppress_address: bool) -> None:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        error = f"{stage} {code} {text}"
        if code == 421 or code < 0:
            # 421: the server is closing the connection (smtplib has closed it already).
            self.connection = None
            raise ConnectionLost(error)
        if 500 <= code < 600:
            raise PermanentSendError(error, suppress_address=suppress_address)
        raise TransientSendError(error)

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


class BackendSender:
    """A Django email backend (an ESP through django-anymail), one connection per batch."""

    def __init__(self) -> None:
        self.connection = get_connection(fail_silently=False)
        self.connection.open()

    def send(self, row: _Row, *, from_address: str, fields: dict[str, str]) -> str:
        message = variant_template(row.variant_id).as_django_message(**fields, connection=self.connection)
        try:
            sent = self.connection.send_messages([message])
        except Exception as exc:
            refused = type(exc).__name__ == "AnymailRecipientsRefused"
            if refused:
                raise PermanentSendError(str(exc), suppress_address=True) from exc
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        if not sent:
            raise TransientSendError("the backend sent nothing")
        return fields["message_id"]

    def close(self) -> None:
        self.connection.close()


def open_sender() -> SMTPSender | BackendSender:
    """SMTP straight through smtplib by default; any other EMAIL_BACKEND through Django."""
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        return SMTPSender()
    return BackendSender()


# --- Recovery, schedule, editor actions ---------------------------------------------------


def sweep() -> dict[str, int]:
    """Re-queue rows whose claim lease expired, enqueue due rows, mark finished digests sent."""
    now = timezone.now()
    expired = now - datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    stale = Delivery.objects.filter(status=Status.SENDING, claimed_at__lt=expired)
    # A worker that held these rows died; the message may or may not have gone out.
    gave_up = stale.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS).update(
        status=Status.FAILED, claim="", last_error="gave up: the worker stopped during every attempt"
    )
    requeued = stale.update(
        status=Status.QUEUED, claim="", enqueued_at=None, last_error="lease expired: the worker stopped"
    )
    enqueued = finished = 0
    for digest_id in Digest.objects.filter(status=Digest.Status.SENDING).values_list("pk", flat=True):
        enqueued += enqueue_due(digest_id=digest_id)
        finished += finish_if_done(digest_id=digest_id)
    return {"requeued": requeued, "gave_up": gave_up, "enqueued": enqueued, "finished": finished}


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


def delivery_progress(digest: Digest) -> dict:
    """Counts by status (one grouped query), the rate over the last minute and the time left."""
    counts = {status: 0 for status in Status.values}
    for row in Delivery.objects.filter(digest=digest).values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    since = timezone.now() - datetime.timedelta(seconds=60)
    recent = Delivery.objects.filter(digest=digest, status=Status.SENT, sent_at__gte=since).count()
    rate = recent / 60
    remaining = counts[Status.QUEUED] + counts[Status.SENDING]
    return {
        "status": Digest.objects.filter(pk=digest.pk).values_list("status", flat=True).first(),
        "counts": counts,
        "total": sum(counts.values()),
        "remaining": remaining,
        "rate_per_second": round(rate, 2),
        "eta_seconds": round(remaining / rate) if rate else None,
    }
