"""Celery tasks for the daily send: thin wrappers around newsletters/delivery/."""

import datetime

from celery import shared_task
from django.conf import settings

from newsletters.delivery import ledger, planning, schedule, sending


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
