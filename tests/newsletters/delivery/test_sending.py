"""Sending batches: one connection, recording in groups, refusals, retries, drops, readers who leave."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from newsletters.delivery import sending
from newsletters.mail.messages import make_message_id
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
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


def test_a_batch_goes_over_one_smtp_connection(sink, settings, django_capture_on_commit_callbacks):
    settings.DELIVERY_BATCH_SIZE = 50
    digest, _ = make_sendable_digest()
    for n in range(12):
        make_reader(f"r{n}@example.com", language=("ko", "en", "both")[n % 3])

    batches = queue_send(digest, django_capture_on_commit_callbacks)
    send_all(batches)

    assert len(batches) == 1 and sink.count == 12 and sink.sessions == 1


def test_accepted_messages_are_recorded_in_small_groups_each_with_its_own_message_id(
    sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 50
    digest, _ = make_sendable_digest()
    readers = [make_reader(f"r{n}@example.com") for n in range(sending.RECORD_EVERY * 2 + 5)]
    batches = queue_send(digest, django_capture_on_commit_callbacks)

    with CaptureQueriesContext(connection) as queries:
        send_all(batches)

    table = Delivery._meta.db_table
    writes = [q for q in queries if q["sql"].startswith(f'UPDATE "{table}"') and "'sent'" in q["sql"]]
    assert len(writes) == 3  # 10 + 10 + 5, not one write per message
    rows = {row.subscriber_id: row for row in Delivery.objects.filter(digest=digest)}
    mail = parsed(sink)
    for reader in readers:
        row = rows[reader.pk]
        assert row.status == Delivery.Status.SENT and row.sent_at is not None and row.claim == ""
        assert (
            row.message_id
            == mail[reader.email]["Message-ID"]
            == make_message_id(digest_id=digest.pk, subscriber_id=reader.pk, domain="127.0.0.1")
        )


def test_messages_accepted_before_the_connection_drops_are_recorded_as_sent(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    for n in range(4):
        make_reader(f"r{n}@example.com")
    sink.refuse["r2@example.com"] = "421 4.3.2 Service shutting down"
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)

    [result] = send_all([batch])

    assert statuses(digest) == {
        "r0@example.com": "sent",
        "r1@example.com": "sent",
        "r2@example.com": "queued",
        "r3@example.com": "queued",
    }
    assert result.sent == 2 and len(result.retry_ids) == 2


def test_a_reader_who_unsubscribes_during_the_send_gets_nothing_after_that(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    leaver = make_reader("leaver@example.com")
    make_reader("stayer@example.com")
    batches = queue_send(digest, django_capture_on_commit_callbacks)

    leaver.unsubscribe(source="test")
    send_all(batches)

    assert set(parsed(sink)) == {"stayer@example.com"}
    row = Delivery.objects.get(subscriber=leaver)
    assert row.status == "skipped" and "unsubscribed" in row.last_error


def test_a_temporary_refusal_is_retried_later_with_the_same_message_id(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("busy@example.com")
    sink.refuse["busy@example.com"] = "451 4.3.0 mailbox busy"

    [result] = send_all(queue_send(digest, django_capture_on_commit_callbacks))

    row = Delivery.objects.get(digest=digest)
    assert row.status == "queued" and row.attempts == 1 and "451" in row.last_error
    assert row.next_attempt_at > timezone.now() + datetime.timedelta(seconds=29)
    assert result.retry_ids == [row.pk] and result.retry_countdown >= 29
    assert sending.send_batch([row.pk]).sent == 0  # not due yet: nothing claimed

    del sink.refuse["busy@example.com"]
    with time_machine.travel(row.next_attempt_at + datetime.timedelta(seconds=1)):
        sending.send_batch([row.pk])
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2
    assert parsed(sink)["busy@example.com"]["Message-ID"] == row.message_id


def test_temporary_refusals_fail_the_row_after_the_last_attempt_without_suppressing(
    sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    digest, _ = make_sendable_digest()
    reader = make_reader("busy@example.com")
    sink.refuse["busy@example.com"] = "451 4.3.0 mailbox busy"
    send_all(queue_send(digest, django_capture_on_commit_callbacks))
    row = Delivery.objects.get(digest=digest)

    with time_machine.travel(row.next_attempt_at + datetime.timedelta(seconds=1)):
        sending.send_batch([row.pk])

    row.refresh_from_db()
    reader.refresh_from_db()
    assert row.status == "failed" and "gave up after 2 attempts" in row.last_error
    assert reader.state == Subscriber.Status.ACTIVE
    digest.refresh_from_db()
    # Its only reader did not get it: the digest failed, it was not "sent".
    assert digest.status == Digest.Status.FAILED


def test_a_permanent_refusal_fails_the_row_and_suppresses_the_address(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    gone = make_reader("nobody@example.com")
    make_reader("reader@example.com")
    sink.refuse["nobody@example.com"] = "550 5.1.1 no such user"

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert statuses(digest) == {"nobody@example.com": "failed", "reader@example.com": "sent"}
    assert "550" in Delivery.objects.get(subscriber=gone).last_error
    gone.refresh_from_db()
    assert gone.state == Subscriber.Status.BOUNCED
    assert gone.events.last().source == "smtp"


def _hook_before_message(monkeypatch, at: int, action) -> None:
    """Run action just before the at-th message goes on the wire (after its rate-limit slot)."""
    calls = {"n": 0}
    original = sending.ratelimit.acquire

    def acquire() -> None:
        calls["n"] += 1
        if calls["n"] == at:
            action()
        original()

    monkeypatch.setattr(sending.ratelimit, "acquire", acquire)


def test_sigterm_during_a_batch_records_what_was_sent_and_gives_the_rest_back(
    sink, monkeypatch, django_capture_on_commit_callbacks
):
    import os
    import signal

    digest, _ = make_sendable_digest()
    readers = [make_reader(f"r{n}@example.com") for n in range(6)]
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    # A process-group stop: the signal reaches the pool process while message 3 is on its way.
    _hook_before_message(monkeypatch, 3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)

    result = sending.send_batch(batch)

    assert signal.getsignal(signal.SIGTERM) is before  # outside a batch, SIGTERM acts as before
    assert sink.count == 3 and result.sent == 3
    rows = dict(Delivery.objects.filter(digest=digest).values_list("subscriber__email", "status"))
    assert [rows[r.email] for r in readers] == ["sent"] * 3 + ["queued"] * 3
    # Given back untouched: no attempt spent, and the task re-enqueues them for another worker.
    assert set(Delivery.objects.filter(status="queued").values_list("attempts", "claim")) == {(0, "")}
    assert sorted(result.retry_ids) == sorted(batch[3:])


def test_a_batch_past_its_time_takes_no_new_message(sink, settings, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    for n in range(4):
        make_reader(f"r{n}@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    settings.DELIVERY_BATCH_SECONDS = 0  # the batch's time is up before its first message

    result = sending.send_batch(batch)

    assert sink.count == 0 and sorted(result.retry_ids) == sorted(batch)
    assert set(Delivery.objects.values_list("status", "attempts", "claim")) == {("queued", 0, "")}


def test_a_pool_process_stopped_during_a_batch_finishes_it_and_exits_after():
    import signal

    sending._in_batch.set()
    try:
        sending.on_sigterm_in_pool_process(signal.SIGTERM, None)
        assert sending._stop.is_set() and sending._exit_after_batch.is_set()
    finally:
        sending._in_batch.clear()
        sending._stop.clear()
        sending._exit_after_batch.clear()


def test_a_pool_process_stopped_between_batches_exits_at_once(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    script = (
        "import os, signal, django; django.setup();"
        "from newsletters.delivery import sending;"
        "signal.signal(signal.SIGTERM, sending.on_sigterm_in_pool_process);"
        "os.kill(os.getpid(), signal.SIGTERM);"
        "print('still running')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == -signal.SIGTERM and "still running" not in done.stdout
