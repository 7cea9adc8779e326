"""Celery tasks: thin wrappers around newsletters/delivery/ (the daily send) and authoring/paper_links."""

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from newsletters.authoring import paper_links
from newsletters.authoring.arxiv import ArxivUnavailable
from newsletters.delivery import ledger, planning, schedule, sending

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def start_send(digest_id: int) -> int:
    return planning.start_send(digest_id=digest_id)


@shared_task(ignore_result=True)
def plan_send(digest_id: int) -> int:
    return planning.plan_send(digest_id=digest_id)


# The database stopped answering: retried with backoff, never acknowledged as done (the rows
# would wait for the sweep). Up to about 10 minutes at 30 s apart, then the sweep takes over.
DATABASE_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 25,
}


# A batch stops itself after DELIVERY_BATCH_SECONDS; the hard limit (the lease) is a backstop
# far below the broker's visibility timeout, so no task is ever handed to a second worker while
# still running (digest_site/checks.py refuses settings that break this).
@shared_task(ignore_result=True, time_limit=settings.DELIVERY_LEASE_SECONDS, **DATABASE_RETRY)
def send_batch(delivery_ids: list[int]) -> dict:
    result = sending.send_batch(delivery_ids)
    if result.unrecorded or result.unreleased:
        # The database outlived the batch's own retries: the outcome goes on the broker.
        accepted = [(row_id, message_id, at.isoformat()) for row_id, message_id, at in result.unrecorded]
        record_outcome.delay(result.token, accepted, result.unreleased)
    if result.retry_ids:
        send_batch.apply_async((result.retry_ids,), countdown=result.retry_countdown)
    sending.exit_if_stopped()
    return {
        "sent": result.sent,
        "failed": result.failed,
        "skipped": result.skipped,
        "retry": len(result.retry_ids),
    }


# Retried every two seconds at most: it must land within the sweep's grace (two heartbeats)
# after the database is back, before the rows it holds are sent again; ~15 minutes in all.
@shared_task(ignore_result=True, **{**DATABASE_RETRY, "retry_backoff_max": 2, "max_retries": 450})
def record_outcome(token: str, accepted: list[list], untried_ids: list[int]) -> int:
    ledger.record_sent(
        [(row_id, message_id, datetime.datetime.fromisoformat(at)) for row_id, message_id, at in accepted],
        token=token,
    )
    released = ledger.release_ids(untried_ids, token=token, reason="database unavailable")
    if released:
        send_batch.delay(untried_ids)
    return len(accepted)


# No retry on database errors: beat runs it again within DELIVERY_SWEEP_SECONDS.
@shared_task(ignore_result=True)
def sweep_deliveries() -> dict:
    from digest_site.celery import waiting_messages

    # No send_batch message waits on the broker: queued rows have lost their task.
    broker_empty = waiting_messages(send_batch.name) == 0
    outcome = ledger.sweep(broker_empty=broker_empty)
    # A send flipped to "sending" whose planning task was lost (a worker died first).
    lost = planning.unplanned_digests(older_than=datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS))
    for digest_id in lost:
        plan_send.delay(digest_id)
    return {**outcome, "replanned": len(lost)}


@shared_task(ignore_result=True)
def send_due_digests() -> list[int]:
    return schedule.send_due_digests()


@shared_task(bind=True, ignore_result=True, max_retries=4)
def find_missing_arxiv_ids(self, digest_id: int) -> int:
    try:
        return len(paper_links.find_missing_arxiv_ids(digest_id=digest_id))
    except ArxivUnavailable as exc:
        raise self.retry(exc=exc, countdown=120 * 2**self.request.retries) from exc


def find_missing_arxiv_ids_after_commit(digest_id: int) -> None:
    """Look up the digest's missing arXiv ids in the background once the import has committed."""

    def enqueue() -> None:
        try:
            find_missing_arxiv_ids.delay(digest_id)
        except Exception:  # a broker hiccup must not turn an import that was stored into an error
            logger.exception("could not enqueue the arXiv id look-up of digest %s", digest_id)

    transaction.on_commit(enqueue)
