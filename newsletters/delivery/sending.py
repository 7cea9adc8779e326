"""Sending one batch: claim the rows, send each over one connection, record each outcome.

send_batch() claims rows through the ledger, re-checks the reader and the digest after the
claim, fills each reader's links into the variant's prebuilt MIME (built once per sending
process, never per reader) and hands it to a sender; accepted messages are written to the
ledger in groups of at most RECORD_EVERY, one UPDATE per group. While a batch runs, a thread
keeps its claim alive (ledger.heartbeat); a batch stops taking new messages after
DELIVERY_BATCH_SECONDS or at SIGTERM, and when the database stops answering it keeps what the
server accepted and writes it as soon as the database is back (or hands it to the task, which
hands it to record_outcome). send_test() sends one variant, marked [TEST], to an editor.

It never holds a transaction open while talking to the server, and never lets an exception
pass without writing it on the row.
"""

import datetime
import logging
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parseaddr

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from digest_site.mailname import mail_domain
from newsletters.delivery import policies, ratelimit
from newsletters.delivery.ledger import (
    BatchResult,
    Row,
    Status,
    claim,
    finish_if_done,
    heartbeat,
    is_sending,
    record_failed,
    record_retry,
    record_sent,
    record_skipped,
    release,
    require_send_permission,
)
from newsletters.delivery.senders import (
    ConfigurationError,
    ConnectionLost,
    PermanentSendError,
    SMTPSender,
    TransientSendError,
    open_sender,
    uses_smtp,
)
from newsletters.mail.content import render_variant
from newsletters.mail.messages import MessageTemplate, build_message_template, make_message_id
from newsletters.mail.rendering import RenderedEmail, mark_as_test
from newsletters.models import Delivery, Digest, DigestVariant
from subscribers import links
from subscribers.models import Subscriber
from subscribers.suppression import clear_soft_bounces

logger = logging.getLogger(__name__)

# Accepted messages are written to the ledger in small groups, one UPDATE per group: one
# UPDATE and commit per message cost more than the SMTP transfer itself. The price: a worker
# killed before a group is written leaves up to RECORD_EVERY messages the server accepted but
# the ledger does not show; the sweep re-queues them and those readers get a second copy with
# the same Message-ID. So "in flight" is at most RECORD_EVERY messages per sending process, and
# never older than RECORD_SECONDS.
RECORD_EVERY = 10
RECORD_SECONDS = 0.2
# The database stopped answering (an outage, a failover, a restart): what the batch knows is
# kept and retried, never dropped.
DATABASE_ERRORS = (OperationalError, InterfaceError)
# How long a batch keeps retrying to write what it knows after a database error, before it
# hands that to the record_outcome task; counted in the worker's stop grace (checks.py).
RECORD_RETRY_SECONDS = 10.0
# Variants whose prebuilt MIME a sending process keeps (about 70 KB each), least recently used
# going first. Batches come in variant order (ledger.enqueue_due), so a few suffice.
TEMPLATE_CACHE_SIZE = 16

_templates: OrderedDict[int, MessageTemplate] = OrderedDict()
# Set by SIGTERM while a batch runs: the batch stops after the message on the wire.
_stop = threading.Event()
_in_batch = threading.Event()
# A worker's pool process that got SIGTERM during a batch exits once the batch is written.
_exit_after_batch = threading.Event()


def variant_template(variant_id: int) -> MessageTemplate:
    """The variant's prebuilt message, built once per sending process, never per reader."""
    if variant_id in _templates:
        _templates.move_to_end(variant_id)
        return _templates[variant_id]
    variant = DigestVariant.objects.only("subject", "text", "html").get(pk=variant_id)
    template = build_message_template(
        RenderedEmail(subject=variant.subject, text=variant.text, html=variant.html)
    )
    _templates[variant_id] = template
    if len(_templates) > TEMPLATE_CACHE_SIZE:
        _templates.popitem(last=False)
    return template


def reader_fields(row: Row, domain: str) -> dict[str, str]:
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
    # The claim is made inside the batch's SIGTERM window: a stop can never catch claimed rows
    # outside it (they would wait for the heartbeat sweep instead of being given back).
    with _stop_at_sigterm():
        token, claimed = claim(delivery_ids)
        if not claimed:
            return result
        result.token = token
        with _keep_claim_alive(token):
            _send_claimed(token, result)
    try:
        for digest_id in result.digest_ids:
            if result.sent:
                policies.connection_worked(digest_id=digest_id)
            finish_if_done(digest_id=digest_id)
    except DATABASE_ERRORS:
        # Nothing is lost: the sweep marks the digest sent once the database answers.
        connection.close()
    return result


@contextmanager
def _keep_claim_alive(token: str) -> Iterator[None]:
    """Heartbeat the claim from a thread, so a long SMTP answer or rate-limit wait never looks like death."""
    done = threading.Event()

    def beat() -> None:
        try:
            while not done.wait(settings.DELIVERY_HEARTBEAT_SECONDS):
                try:
                    heartbeat(token)
                except DATABASE_ERRORS:
                    connection.close()  # this thread's own connection; the next beat reconnects
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{token[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def on_sigterm_in_pool_process(signum, frame) -> None:
    """A worker pool process's SIGTERM handler, for its whole life (digest_site/celery.py).

    In a batch: the batch stops after the message on the wire, records, gives the rest back,
    and the process exits once its task has re-enqueued them. Outside a batch: it exits now,
    as it would without this handler (it holds no claim there).
    """
    _stop.set()
    if _in_batch.is_set():
        _exit_after_batch.set()
    else:
        _terminate()


def exit_if_stopped() -> None:
    """Called by the task after its batch: a pool process that was told to stop, stops."""
    if _exit_after_batch.is_set():
        _terminate()


def _terminate() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def _stop_at_sigterm() -> Iterator[None]:
    """While a batch runs, SIGTERM (a process-group stop) ends it after the message on the wire.

    Celery's pool processes die at once on SIGTERM; in a worker the pool process's own handler
    (on_sigterm_in_pool_process) knows a batch runs from _in_batch. Anywhere else (a command, a
    test) a handler is installed for the batch only, and the old disposition comes back after.
    """
    _stop.clear()
    _in_batch.set()
    previous = None
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is not on_sigterm_in_pool_process
    ):
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: _stop.set())
    try:
        yield
    finally:
        _in_batch.clear()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if _stop.is_set():
            logger.warning("stopped by SIGTERM; what was sent is recorded, the rest is queued again")


def _send_claimed(token: str, result: BatchResult) -> None:
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
    sendable: list[Row] = []
    paused: list[Row] = []
    for pk, digest_id, subscriber_id, variant_id, attempts, email, state, digest_status in rows:
        row = Row(pk, digest_id, subscriber_id, variant_id, attempts, email, token)
        if digest_status == Digest.Status.PAUSED:
            # The editor paused between this claim and now: the rows wait, queued, for resume
            # (skipping them would leave their readers out for good).
            paused.append(row)
            continue
        # Checked after the claim: a reader who left during the send gets nothing from here on.
        reason = ""
        if digest_status != Digest.Status.SENDING:
            reason = f"digest {digest_status}"
        elif state != Subscriber.Status.ACTIVE:
            reason = f"reader {state} before sending"
        if reason:
            record_skipped(pk, reason, token=token)
            result.skipped += 1
        else:
            sendable.append(row)
    result.digest_ids = {row[1] for row in rows}
    release(paused, result, reason="paused", retry=False)
    if sendable:
        _send_rows(sendable, result)


def _send_rows(rows: list[Row], result: BatchResult) -> None:
    # Well inside the stop grace period a deployment gives a worker, the lease and the
    # broker's visibility timeout (checks.py holds the settings to that).
    deadline = time.monotonic() + settings.DELIVERY_BATCH_SECONDS
    domain = mail_domain()
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    token = rows[0].token
    accepted: list[tuple[int, str, datetime.datetime]] = []
    untried: list[Row] = []
    reason = ""
    oldest = 0.0
    index = 0
    # Readers' state, read again every CHECK_EVERY messages or CHECK_SECONDS, so an unsubscribe
    # made while the batch is on the wire stops their message within about a second.
    readers: dict[int, tuple[str, int]] = {}
    checked_until, checked_at = 0, 0.0
    # Readers with a soft-bounce count who were delivered now: their count starts again. Not
    # for an ESP, whose acceptance is not delivery (its webhook's "delivered" resets instead).
    recovered: list[int] = []
    sender = open_sender()
    try:
        for index, row in enumerate(rows):
            if _stop.is_set() or time.monotonic() > deadline:
                # The rest goes back to the queue untouched, for another batch.
                untried, reason = rows[index:], "the worker stopped" if _stop.is_set() else ""
                break
            if accepted and (len(accepted) >= RECORD_EVERY or time.monotonic() - oldest >= RECORD_SECONDS):
                record_sent(accepted, token=token)
                accepted = []
                # A pause (the editor's cancel) stops a batch here, between groups: at most
                # RECORD_EVERY messages go out after it; the rest wait, queued, for resume.
                if not is_sending(row.digest_id):
                    release(rows[index:], result, reason="paused", retry=False)
                    break
            ratelimit.acquire()
            if index >= checked_until or time.monotonic() - checked_at > policies.CHECK_SECONDS:
                window = rows[index : index + policies.CHECK_EVERY]
                readers = policies.readers_state([r.subscriber_id for r in window])
                checked_until, checked_at = index + len(window), time.monotonic()
            state, soft_bounces = readers.get(row.subscriber_id, ("", 0))
            if state != Subscriber.Status.ACTIVE:
                record_skipped(row.id, f"reader {state or 'deleted'} before sending", token=token)
                result.skipped += 1
                continue
            try:
                template = variant_template(row.variant_id)
                message_id = sender.send(
                    template, from_address=from_address, fields=reader_fields(row, domain)
                )
            except PermanentSendError as exc:
                record_failed(row, str(exc), suppress_address=exc.suppress_address)
                result.failed += 1
            except ConfigurationError as exc:
                # Not this reader's fault, nor the message's: nobody's attempt is spent, and the
                # policy pauses the digest (or, mid-send, after a few in a row) with the reason.
                release(rows[index:], result, reason=str(exc), retry=False)
                paused = policies.connection_failed(
                    digest_id=row.digest_id, reason=str(exc), definite=exc.definite
                )
                if not paused:
                    result.retry_ids.extend(r.id for r in rows[index:])
                    result.retry_at = timezone.now() + datetime.timedelta(
                        seconds=settings.DELIVERY_RETRY_BASE_SECONDS
                    )
                break
            except ConnectionLost as exc:
                record_retry(row, str(exc), result)
                untried, reason = rows[index + 1 :], str(exc)
                break
            except TransientSendError as exc:
                failed = result.failed
                record_retry(row, str(exc), result)
                if result.failed > failed:  # the last attempt: a soft bounce for this digest
                    policies.soft_bounce(
                        subscriber_id=row.subscriber_id, digest_id=row.digest_id, error=str(exc)
                    )
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
                if soft_bounces and isinstance(sender, SMTPSender):
                    recovered.append(row.subscriber_id)
        record_sent(accepted, token=token)
        accepted = []
        release(untried, result, reason=reason)
        if recovered:
            clear_soft_bounces(recovered)
    except DATABASE_ERRORS as exc:
        logger.warning("database unavailable during a batch, keeping what was sent: %s", exc)
        # Rows from here on were not sent (or their refusal was not written): given back. Rows
        # already final are not touched, the writes name the claim token.
        sent = {row_id for row_id, _, _ in accepted}
        untried = [row for row in rows[index:] if row.id not in sent]
        _write_when_database_answers(accepted, untried, result, reason=f"database unavailable: {exc}")
    except BaseException:
        # Anything else stopping the loop: these were sent, write them before the error goes on.
        record_sent(accepted, token=token)
        raise
    finally:
        sender.close()


def _write_when_database_answers(
    accepted: list[tuple[int, str, datetime.datetime]],
    untried: list[Row],
    result: BatchResult,
    *,
    reason: str,
) -> None:
    """Retry writing the batch's outcome with backoff; past RECORD_RETRY_SECONDS, leave it on the result."""
    deadline = time.monotonic() + RECORD_RETRY_SECONDS
    delay = 0.25
    while True:
        # A connection that failed stays failed until closed; the next query reconnects.
        connection.close()
        try:
            record_sent(accepted, token=result.token)
            accepted = []
            release(untried, result, reason=reason)
            return
        except DATABASE_ERRORS:
            if time.monotonic() + delay > deadline:
                result.unrecorded = accepted
                result.unreleased = [row.id for row in untried]
                logger.warning(
                    "database still unavailable: %d sent and %d untried rows handed on",
                    len(accepted),
                    len(untried),
                )
                return
            time.sleep(delay)
            delay = min(2 * delay, 1.0)


def send_test(*, digest: Digest, entry_ids: list[int], language: str, to: str, user) -> str:
    """Send one variant, marked as a test, with placeholder links; the Message-ID.

    Anyone who may see the digest may mail a test to their own address; mailing anyone else
    needs the send permission (it would otherwise be a way to mail strangers).
    """
    own = (getattr(user, "email", "") or "").strip().lower()
    if not own or to.strip().lower() != own:
        require_send_permission(user)
    rendered = mark_as_test(render_variant(digest=digest, entry_ids=entry_ids, language=language))
    template = build_message_template(rendered)
    fields = {
        "to": to,
        "message_id": f"<test-{uuid.uuid4().hex}@{mail_domain()}>",
        "unsubscribe_url": f"{settings.SITE_URL}/",
        "unsubscribe_mailto": f"mailto:{settings.UNSUBSCRIBE_MAILTO}",
        "preferences_url": f"{settings.SITE_URL}/",
    }
    if uses_smtp():
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
    return fields["message_id"]
