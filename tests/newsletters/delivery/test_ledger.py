"""The ledger: a digest is sent when every row is final, the sweep recovers dead workers' rows, progress."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from newsletters.delivery import ledger, sending
from newsletters.mail.messages import make_message_id
from newsletters.models import Delivery, Digest
from tests.newsletters.delivery.helpers import (
    make_reader,
    make_sendable_digest,
    parsed,
    queue_send,
    send_all,
    statuses,
)

pytestmark = pytest.mark.django_db
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")


def test_the_digest_is_sent_when_every_row_is_final_and_messages_carry_a_stable_message_id(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    reader = make_reader("reader@example.com")

    batches = queue_send(digest, django_capture_on_commit_callbacks)
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENDING
    send_all(batches)

    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT and digest.sent_at is not None
    row = Delivery.objects.get(digest=digest)
    expected = make_message_id(digest_id=digest.pk, subscriber_id=reader.pk, domain="127.0.0.1")
    assert row.message_id == expected == parsed(sink)["reader@example.com"]["Message-ID"]
    assert row.attempts == 1 and row.sent_at is not None


def test_the_sweep_requeues_rows_of_a_worker_that_died(sink, settings, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    ledger.claim(batch)  # a worker claims the row, then is killed before sending

    assert ledger.sweep()["requeued"] == 0  # the lease has not expired yet
    enqueued: list[list[int]] = []
    from newsletters import tasks

    later = timezone.now() + datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 1)
    with time_machine.travel(later):
        tasks.send_batch.delay, original = (lambda ids: enqueued.append(ids)), tasks.send_batch.delay
        try:
            report = ledger.sweep()
        finally:
            tasks.send_batch.delay = original
        assert report["requeued"] == 1 and enqueued == [batch]
        send_all(enqueued)

    assert statuses(digest) == {"reader@example.com": "sent"}
    assert Delivery.objects.get(digest=digest).attempts == 2
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


def test_progress_counts_rows_by_status(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    make_reader("b@example.com", tags=("robotics",))
    make_reader("c@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    sending.send_batch(batch[:1])

    progress = ledger.delivery_progress(digest)

    assert progress["counts"] == {"queued": 1, "sending": 0, "sent": 1, "failed": 0, "skipped": 1}
    assert progress["remaining"] == 1 and progress["total"] == 3
    assert progress["rate_per_second"] > 0 and progress["eta_seconds"] is not None
