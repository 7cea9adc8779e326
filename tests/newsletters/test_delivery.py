"""The daily send in-process: audience and variants, the ledger, failures, sweep, schedule."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from newsletters import delivery
from newsletters.messages import make_message_id
from newsletters.models import Delivery, Digest, DigestVariant
from subscribers.models import Subscriber
from tests.newsletters.delivery_helpers import (
    body_html,
    body_text,
    make_reader,
    make_sendable_digest,
    parsed,
    queue_send,
    send_all,
    statuses,
)

pytestmark = pytest.mark.django_db
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")


def test_each_reader_gets_one_email_with_only_their_entries_in_their_language(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("ko-rl@example.com", language="ko", tags=("rl",))
    make_reader("en-nlp@example.com", language="en", tags=("nlp",))
    make_reader("both-all@example.com", language="both")

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    mail = parsed(sink)
    assert set(mail) == {"ko-rl@example.com", "en-nlp@example.com", "both-all@example.com"}
    ko = body_text(mail["ko-rl@example.com"])
    assert "Reinforcement paper" in ko and "Vision paper" in ko and "Language paper" not in ko
    assert "강화학습 해설" in ko and "RL commentary" not in ko
    assert ko.index("Reinforcement paper") < ko.index("Vision paper")  # the editor's order
    en = body_html(mail["en-nlp@example.com"])
    assert "Language paper" in en and "Reinforcement paper" not in en
    assert "NLP commentary" in en and "언어 모델 해설" not in en
    both = body_text(mail["both-all@example.com"])
    assert all(title in both for title in ("Reinforcement paper", "Language paper", "Vision paper"))
    assert "강화학습 해설" in both and "RL commentary" in both


def test_each_variant_is_rendered_once_however_many_readers_share_it(
    sink, django_capture_on_commit_callbacks
):
    digest, ids = make_sendable_digest()
    for n in range(5):
        make_reader(f"rl{n}@example.com", language="ko", tags=("rl",))
    # #rl and #vision give the same entries as #rl alone: the same variant.
    make_reader("rl-vision@example.com", language="ko", tags=("rl", "vision"))
    for n in range(3):
        make_reader(f"en{n}@example.com", language="en")
    renders_before = delivery.render_count

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    variants = {
        (tuple(v.entry_ids), v.language): v.reader_count for v in DigestVariant.objects.filter(digest=digest)
    }
    assert variants == {
        ((ids["rl"], ids["vision"]), "ko"): 6,
        ((ids["rl"], ids["nlp"], ids["vision"]), "en"): 3,
    }
    assert delivery.render_count - renders_before == 2
    assert sink.count == 9


def test_a_reader_whose_tags_match_nothing_gets_no_email_and_is_recorded_as_skipped(
    sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("robots@example.com", tags=("robotics",))
    make_reader("rl@example.com", tags=("rl",))

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert set(parsed(sink)) == {"rl@example.com"}
    assert statuses(digest) == {"robots@example.com": "skipped", "rl@example.com": "sent"}
    assert (
        Delivery.objects.get(subscriber__email="robots@example.com").last_error
        == "no entry matches the reader's tags"
    )


def test_only_active_readers_are_in_the_audience(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("active@example.com")
    make_reader("pending@example.com", state=Subscriber.Status.PENDING)
    make_reader("gone@example.com", state=Subscriber.Status.UNSUBSCRIBED)
    make_reader("bounced@example.com", state=Subscriber.Status.BOUNCED)

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert statuses(digest) == {"active@example.com": "sent"}
    assert set(parsed(sink)) == {"active@example.com"}


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
    readers = [make_reader(f"r{n}@example.com") for n in range(delivery.RECORD_EVERY * 2 + 5)]
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


def test_triggering_the_send_twice_sends_once(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")

    first = queue_send(digest, django_capture_on_commit_callbacks)
    second = queue_send(digest, django_capture_on_commit_callbacks)
    send_all(first + first)  # a duplicated task claims nothing

    assert second == [] and sink.count == 1
    assert Delivery.objects.count() == 1


def test_a_draft_with_no_ready_entry_cannot_start():
    digest = Digest.objects.create(date=datetime.date(2025, 7, 10))
    with pytest.raises(delivery.DeliveryError):
        delivery.start_send(digest_id=digest.pk)
    digest.refresh_from_db()
    assert digest.status == Digest.Status.DRAFT


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
    assert delivery.send_batch([row.pk]).sent == 0  # not due yet: nothing claimed

    del sink.refuse["busy@example.com"]
    with time_machine.travel(row.next_attempt_at + datetime.timedelta(seconds=1)):
        delivery.send_batch([row.pk])
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
        delivery.send_batch([row.pk])

    row.refresh_from_db()
    reader.refresh_from_db()
    assert row.status == "failed" and "gave up after 2 attempts" in row.last_error
    assert reader.state == Subscriber.Status.ACTIVE
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


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


def test_an_unreachable_server_puts_the_batch_back_without_losing_anyone(
    sink, settings, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    for n in range(3):
        make_reader(f"r{n}@example.com")
    batches = queue_send(digest, django_capture_on_commit_callbacks)
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nothing listens there

    [result] = send_all(batches)

    rows = list(Delivery.objects.filter(digest=digest).order_by("pk"))
    assert [r.status for r in rows] == ["queued"] * 3
    assert rows[0].attempts == 1 and "ConnectionRefusedError" in rows[0].last_error
    assert [r.attempts for r in rows[1:]] == [0, 0]  # never tried, so no attempt spent
    assert sorted(result.retry_ids) == [r.pk for r in rows]

    settings.EMAIL_PORT = port
    with time_machine.travel(rows[0].next_attempt_at + datetime.timedelta(seconds=1)):
        delivery.send_batch(result.retry_ids)
    assert set(parsed(sink)) == {"r0@example.com", "r1@example.com", "r2@example.com"}


def test_the_sweep_requeues_rows_of_a_worker_that_died(sink, settings, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("reader@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    delivery.claim(batch)  # a worker claims the row, then is killed before sending

    assert delivery.sweep()["requeued"] == 0  # the lease has not expired yet
    enqueued: list[list[int]] = []
    from newsletters import tasks

    later = timezone.now() + datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 1)
    with time_machine.travel(later):
        tasks.send_batch.delay, original = (lambda ids: enqueued.append(ids)), tasks.send_batch.delay
        try:
            report = delivery.sweep()
        finally:
            tasks.send_batch.delay = original
        assert report["requeued"] == 1 and enqueued == [batch]
        send_all(enqueued)

    assert statuses(digest) == {"reader@example.com": "sent"}
    assert Delivery.objects.get(digest=digest).attempts == 2
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


def test_cancelling_stops_the_rows_not_yet_sent(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    make_reader("b@example.com")
    batches = queue_send(digest, django_capture_on_commit_callbacks)

    assert delivery.cancel_send(digest_id=digest.pk) == 2
    send_all(batches)

    assert sink.count == 0
    assert set(statuses(digest).values()) == {"skipped"}
    digest.refresh_from_db()
    assert digest.status == Digest.Status.CANCELLED


def test_retry_failed_sends_again_to_readers_still_active(sink, settings, django_capture_on_commit_callbacks):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    digest, _ = make_sendable_digest()
    make_reader("refused@example.com")
    make_reader("bounced@example.com")
    sink.refuse["refused@example.com"] = "451 4.3.0 try later"
    sink.refuse["bounced@example.com"] = "550 5.1.1 no such user"
    send_all(queue_send(digest, django_capture_on_commit_callbacks))
    assert statuses(digest) == {"refused@example.com": "failed", "bounced@example.com": "failed"}

    sink.refuse.clear()
    batches: list[list[int]] = []
    from newsletters import tasks

    tasks.send_batch.delay, original = (lambda ids: batches.append(ids)), tasks.send_batch.delay
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery.retry_failed(digest_id=digest.pk) == 1
    finally:
        tasks.send_batch.delay = original
    send_all(batches)

    assert statuses(digest) == {"refused@example.com": "sent", "bounced@example.com": "failed"}
    assert set(parsed(sink)) == {"refused@example.com"}
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


def test_progress_counts_rows_by_status(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    make_reader("b@example.com", tags=("robotics",))
    make_reader("c@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    delivery.send_batch(batch[:1])

    progress = delivery.delivery_progress(digest)

    assert progress["counts"] == {"queued": 1, "sending": 0, "sent": 1, "failed": 0, "skipped": 1}
    assert progress["remaining"] == 1 and progress["total"] == 3
    assert progress["rate_per_second"] > 0 and progress["eta_seconds"] is not None


@time_machine.travel(datetime.datetime(2025, 7, 9, 12, 0, tzinfo=SEOUL))
def test_scheduling_without_a_time_uses_the_send_time_on_the_digest_day(settings):
    settings.DIGEST_SEND_TIME = datetime.time(7, 0)
    digest, _ = make_sendable_digest("2025-07-10")

    assert delivery.schedule_send(digest_id=digest.pk)

    digest.refresh_from_db()
    assert digest.status == Digest.Status.SCHEDULED
    assert digest.scheduled_at == datetime.datetime(2025, 7, 10, 7, 0, tzinfo=SEOUL)


def test_only_scheduled_digests_whose_time_has_come_are_started(django_capture_on_commit_callbacks):
    due, _ = make_sendable_digest("2025-07-10")
    delivery.schedule_send(digest_id=due.pk, at=timezone.now() - datetime.timedelta(minutes=1))
    later, _ = make_sendable_digest("2025-07-11")
    delivery.schedule_send(digest_id=later.pk, at=timezone.now() + datetime.timedelta(hours=1))
    draft, _ = make_sendable_digest("2025-07-12")
    make_reader("reader@example.com")

    with django_capture_on_commit_callbacks(execute=False):
        assert delivery.send_due_digests() == [due.pk]

    assert dict(Digest.objects.values_list("pk", "status")) == {
        due.pk: "sending",
        later.pk: "scheduled",
        draft.pk: "draft",
    }
