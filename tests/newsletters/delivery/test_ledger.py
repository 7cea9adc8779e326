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


def test_the_sweep_requeues_rows_of_a_worker_whose_heartbeat_stopped_within_seconds(
    sink, settings, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    ledger.claim(batch)  # a worker claims the row, then is killed before sending

    assert ledger.sweep()["requeued"] == 0  # its heartbeat is fresh
    enqueued: list[list[int]] = []
    from newsletters import tasks

    beat = settings.DELIVERY_HEARTBEAT_SECONDS
    silent = timezone.now() + datetime.timedelta(seconds=3 * beat + 1)
    tasks.send_batch.delay, original = (lambda ids: enqueued.append(ids)), tasks.send_batch.delay
    try:
        with time_machine.travel(silent):
            # Three missed beats, far inside the lease: given back, due two beats later (a
            # worker only cut off from the database records what it sent before that).
            assert silent < timezone.now() + datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
            report = ledger.sweep()
            assert report["requeued"] == 1 and enqueued == []
        with time_machine.travel(silent + datetime.timedelta(seconds=2 * beat + 1)):
            ledger.sweep()
            assert enqueued == [batch]
            send_all(enqueued)
    finally:
        tasks.send_batch.delay = original

    assert statuses(digest) == {"reader@example.com": "sent"}
    assert Delivery.objects.get(digest=digest).attempts == 2
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


def test_a_live_heartbeat_keeps_the_claim_however_long_the_batch_runs(
    sink, settings, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    token, _ = ledger.claim(batch)
    start = timezone.now()
    beat = settings.DELIVERY_HEARTBEAT_SECONDS

    for step in range(1, 10):  # a slow server: the claim outlives many heartbeat timeouts
        with time_machine.travel(start + datetime.timedelta(seconds=step * beat)):
            assert ledger.heartbeat(token) == 1
            assert ledger.sweep()["requeued"] == 0
    assert Delivery.objects.get(digest=digest).claim == token


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


def claimed_row(digest, capture) -> tuple[Delivery, list[int], str]:
    [batch] = queue_send(digest, capture)
    token, _ = ledger.claim(batch)
    return Delivery.objects.get(pk=batch[0]), batch, token


def as_row(delivery: Delivery, token: str) -> ledger.Row:
    return ledger.Row(
        delivery.pk,
        delivery.digest_id,
        delivery.subscriber_id,
        delivery.variant_id,
        delivery.attempts,
        "reader@example.com",
        token,
    )


def test_a_worker_that_lost_its_claim_cannot_overwrite_the_new_claimants_row(
    settings, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    row, batch, old = claimed_row(digest, django_capture_on_commit_callbacks)
    # The sweep gave the row back and another worker claimed it.
    Delivery.objects.filter(pk=row.pk).update(status="queued", claim="", next_attempt_at=None)
    new, claimed = ledger.claim(batch)
    assert claimed == 1

    stale = as_row(row, old)
    ledger.record_failed(stale, "550 from a worker that lost the row", suppress_address=False)
    ledger.record_retry(stale, "451 from a worker that lost the row", ledger.BatchResult())
    ledger.release([stale], ledger.BatchResult(), reason="stale release")
    ledger.record_skipped(row.pk, "stale skip", token=old)
    assert ledger.release_ids([row.pk], token=old, reason="stale") == 0

    row.refresh_from_db()
    assert (row.status, row.claim, row.last_error, row.attempts) == ("sending", new, "", 2)


def test_a_stale_record_sent_never_touches_a_row_another_worker_holds_or_finished(
    django_capture_on_commit_callbacks,
):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    row, batch, old = claimed_row(digest, django_capture_on_commit_callbacks)
    Delivery.objects.filter(pk=row.pk).update(status="queued", claim="", next_attempt_at=None)
    new, _ = ledger.claim(batch)

    ledger.record_sent([(row.pk, "<stale@x>", timezone.now())], token=old)
    row.refresh_from_db()
    assert (row.status, row.claim, row.message_id) == ("sending", new, "")

    ledger.record_sent([(row.pk, "<new@x>", timezone.now())], token=new)
    ledger.record_sent([(row.pk, "<stale@x>", timezone.now())], token=old)
    ledger.record_failed(as_row(row, old), "late refusal", suppress_address=False)
    row.refresh_from_db()
    assert (row.status, row.message_id, row.last_error) == ("sent", "<new@x>", "")


def test_a_message_accepted_while_the_database_was_away_is_recorded_even_after_the_sweep_took_the_row_back(
    django_capture_on_commit_callbacks,
):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    row, _, token = claimed_row(digest, django_capture_on_commit_callbacks)
    # The heartbeat stopped during the outage; the sweep gave the row back before the worker
    # could write that the server had accepted it. Writing it now prevents a second copy.
    Delivery.objects.filter(pk=row.pk).update(status="queued", claim="")

    ledger.record_sent([(row.pk, "<accepted@x>", timezone.now())], token=token)

    row.refresh_from_db()
    assert (row.status, row.message_id, row.claim) == ("sent", "<accepted@x>", "")
