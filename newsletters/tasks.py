"""Celery tasks: thin wrappers around newsletters/delivery/ (the daily send) and authoring/paper_links."""

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

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


# A batch stops itself at half the lease; the hard limit is a backstop far below the broker's
# visibility timeout, so no task is ever handed to a second worker while still running.
@shared_task(ignore_result=True, time_limit=settings.DELIVERY_LEASE_SECONDS)
def send_batch(delivery_ids: list[int]) -> dict:
    result = sending.send_batch(delivery_ids)
    if result.retry_ids:
        send_batch.apply_async((result.retry_ids,), countdown=result.retry_countdown)
    return {
        "sent": result.sent,
        "failed": result.failed,
        "skipped": result.skipped,
        "retry": len(result.retry_ids),
    }


@shared_task(ignore_result=True)
def sweep_deliveries() -> dict:
    outcome = ledger.sweep()
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
