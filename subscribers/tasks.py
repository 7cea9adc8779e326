"""Celery wrappers for subscriber work; the work itself is in subscribing.py and ratelimit.py."""

import datetime
import smtplib

from celery import shared_task


@shared_task(bind=True, max_retries=5)
def send_confirmation(self, subscriber_id: int, ui_language: str) -> None:
    """Send one confirmation email, retrying transient failures with backoff."""
    from subscribers import subscribing  # subscribing.py imports this module to enqueue

    try:
        subscribing.send_confirmation_email(subscriber_id, ui_language=ui_language)
    except subscribing.PermanentSendError:
        return
    except (smtplib.SMTPException, OSError) as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc


@shared_task
def purge_rate_limit_counters() -> int:
    """Delete subscribe-form rate-limit counters idle for a day (beat runs this daily)."""
    from subscribers import ratelimit

    return ratelimit.purge_expired(older_than=datetime.timedelta(days=1))
