"""Schedules and the editor's actions: send time, due digests, cancel, retry failed."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from newsletters.delivery import schedule
from newsletters.models import Digest
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


def test_cancelling_stops_the_rows_not_yet_sent(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    make_reader("b@example.com")
    batches = queue_send(digest, django_capture_on_commit_callbacks)

    assert schedule.cancel_send(digest_id=digest.pk) == 2
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
            assert schedule.retry_failed(digest_id=digest.pk) == 1
    finally:
        tasks.send_batch.delay = original
    send_all(batches)

    assert statuses(digest) == {"refused@example.com": "sent", "bounced@example.com": "failed"}
    assert set(parsed(sink)) == {"refused@example.com"}
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


@time_machine.travel(datetime.datetime(2025, 7, 9, 12, 0, tzinfo=SEOUL))
def test_scheduling_without_a_time_uses_the_send_time_on_the_digest_day(settings):
    settings.DIGEST_SEND_TIME = datetime.time(7, 0)
    digest, _ = make_sendable_digest("2025-07-10")

    assert schedule.schedule_send(digest_id=digest.pk)

    digest.refresh_from_db()
    assert digest.status == Digest.Status.SCHEDULED
    assert digest.scheduled_at == datetime.datetime(2025, 7, 10, 7, 0, tzinfo=SEOUL)


def test_only_scheduled_digests_whose_time_has_come_are_started(django_capture_on_commit_callbacks):
    due, _ = make_sendable_digest("2025-07-10")
    schedule.schedule_send(digest_id=due.pk, at=timezone.now() - datetime.timedelta(minutes=1))
    later, _ = make_sendable_digest("2025-07-11")
    schedule.schedule_send(digest_id=later.pk, at=timezone.now() + datetime.timedelta(hours=1))
    draft, _ = make_sendable_digest("2025-07-12")
    make_reader("reader@example.com")

    with django_capture_on_commit_callbacks(execute=False):
        assert schedule.send_due_digests() == [due.pk]

    assert dict(Digest.objects.values_list("pk", "status")) == {
        due.pk: "sending",
        later.pk: "scheduled",
        draft.pk: "draft",
    }
