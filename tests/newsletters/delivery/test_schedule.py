"""A digest's sending state: who may move it, schedules, the catch-up policy, pause and resume."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from newsletters.delivery import ledger, planning, schedule, sending
from newsletters.mail.smtpsink import ScriptedHandler
from newsletters.models import Delivery, Digest, DigestVariant
from subscribers.models import Subscriber
from tests.newsletters.delivery.helpers import (
    Broker,
    make_reader,
    make_sendable_digest,
    make_staff,
    parsed,
    queue_send,
    send_all,
    statuses,
)

pytestmark = pytest.mark.django_db
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")


@pytest.fixture
def publisher():
    return make_staff("publisher", can_send=True)


@pytest.fixture
def editor():
    return make_staff("editor", can_send=False)


@pytest.fixture
def broker(monkeypatch) -> Broker:
    return Broker(monkeypatch)


# --- Who may move a digest ---------------------------------------------------------


@pytest.mark.parametrize(
    "move",
    [
        lambda d, u: schedule.schedule_send(digest_id=d, user=u),
        lambda d, u: schedule.send_now(digest_id=d, user=u),
        lambda d, u: schedule.cancel_send(digest_id=d, user=u),
        lambda d, u: schedule.resume_send(digest_id=d, user=u),
        lambda d, u: schedule.retry_failed(digest_id=d, user=u),
    ],
    ids=["schedule", "send-now", "cancel", "resume", "retry"],
)
def test_every_transition_needs_the_send_permission(move, editor):
    digest, _ = make_sendable_digest()
    for user in (None, editor):
        with pytest.raises(PermissionDenied):
            move(digest.pk, user)
    assert Digest.objects.get().status == Digest.Status.DRAFT


def test_an_inactive_publisher_may_not_send(publisher):
    digest, _ = make_sendable_digest()
    publisher.is_active = False
    with pytest.raises(PermissionDenied):
        schedule.send_now(digest_id=digest.pk, user=publisher)


# --- Schedules ------------------------------------------------------------------------


@time_machine.travel(datetime.datetime(2025, 7, 10, 12, 0, tzinfo=SEOUL))
def test_the_default_schedule_is_the_next_send_time_in_the_future(settings, publisher):
    settings.DIGEST_SEND_TIME = datetime.time(7, 0)
    today, _ = make_sendable_digest("2025-07-10")  # 07:00 today has passed
    ahead, _ = make_sendable_digest("2025-07-14")

    assert schedule.schedule_send(digest_id=today.pk, user=publisher) == datetime.datetime(
        2025, 7, 11, 7, 0, tzinfo=SEOUL
    )
    assert schedule.schedule_send(digest_id=ahead.pk, user=publisher) == datetime.datetime(
        2025, 7, 14, 7, 0, tzinfo=SEOUL
    )


@time_machine.travel(datetime.datetime(2025, 7, 10, 12, 0, tzinfo=SEOUL))
def test_scheduling_in_the_past_is_refused_with_a_hint(publisher):
    digest, _ = make_sendable_digest("2025-07-10")

    with pytest.raises(schedule.ScheduleError, match="use Send now"):
        schedule.schedule_send(
            digest_id=digest.pk, user=publisher, at=datetime.datetime(2025, 7, 10, 7, 0, tzinfo=SEOUL)
        )
    with pytest.raises(schedule.ScheduleError, match="more than a year"):
        schedule.schedule_send(
            digest_id=digest.pk, user=publisher, at=datetime.datetime(2031, 1, 1, tzinfo=SEOUL)
        )
    assert Digest.objects.get().status == Digest.Status.DRAFT


def test_a_sending_digest_cannot_be_scheduled(publisher, broker, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        schedule.send_now(digest_id=digest.pk, user=publisher)

    with pytest.raises(schedule.ScheduleError, match="sending digest cannot be scheduled"):
        schedule.schedule_send(digest_id=digest.pk, user=publisher, at=timezone.now() + datetime.timedelta(1))


# --- Beat: the catch-up policy ---------------------------------------------------------


def schedule_at(digest: Digest, at: datetime.datetime) -> None:
    """Scheduled earlier by a publisher, at a time that was then in the future."""
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SCHEDULED, scheduled_at=at)


def test_after_a_beat_outage_only_the_newest_due_digest_is_sent_and_staff_are_mailed(
    settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Staff", "staff@example.com")]
    settings.DIGEST_MAX_LATENESS = datetime.timedelta(hours=6)
    days = [make_sendable_digest(f"2025-07-{day:02d}")[0] for day in (7, 8, 9, 10)]
    for digest in days:
        schedule_at(digest, datetime.datetime(digest.date.year, 7, digest.date.day, 7, 0, tzinfo=SEOUL))
    make_reader("reader@example.com")

    # Beat was stopped from the 7th 06:00 to the 10th 07:30: four digests are overdue at once.
    with time_machine.travel(datetime.datetime(2025, 7, 10, 7, 30, tzinfo=SEOUL)):
        with django_capture_on_commit_callbacks(execute=False):
            started = schedule.send_due_digests()

    assert started == [days[-1].pk]
    assert dict(Digest.objects.values_list("date", "status")) == {
        datetime.date(2025, 7, 7): "missed",
        datetime.date(2025, 7, 8): "missed",
        datetime.date(2025, 7, 9): "missed",
        datetime.date(2025, 7, 10): "sending",
    }
    assert "late, past the lateness limit" in Digest.objects.get(date="2025-07-07").status_note
    [mail] = mailoutbox
    assert mail.to == ["staff@example.com"] and "3 digest(s) missed" in mail.subject
    assert "2025-07-07" in mail.body and "2025-07-09" in mail.body

    # The next tick sends nothing more: missed days wait for an editor.
    with time_machine.travel(datetime.datetime(2025, 7, 10, 7, 31, tzinfo=SEOUL)):
        assert schedule.send_due_digests() == []
    assert len(mailoutbox) == 1


def test_a_digest_later_than_the_limit_is_missed_not_sent(settings, mailoutbox):
    settings.ADMINS = [("Staff", "staff@example.com")]
    settings.DIGEST_MAX_LATENESS = datetime.timedelta(hours=6)
    digest, _ = make_sendable_digest()
    schedule_at(digest, timezone.now() - datetime.timedelta(hours=6, minutes=1))

    assert schedule.send_due_digests() == []

    assert Digest.objects.get().status == Digest.Status.MISSED
    assert len(mailoutbox) == 1


def test_an_editor_can_send_a_missed_digest_by_hand(
    publisher, broker, sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.MISSED)

    with django_capture_on_commit_callbacks(execute=True):
        assert schedule.send_now(digest_id=digest.pk, user=publisher)
    broker.run(django_capture_on_commit_callbacks)

    assert Digest.objects.get().status == Digest.Status.SENT and sink.count == 1


def test_one_failing_digest_never_blocks_the_other_due_digests(mailoutbox, settings):
    settings.ADMINS = [("Staff", "staff@example.com")]
    broken, _ = make_sendable_digest("2025-07-11")
    broken.entries.update(status="draft")  # nothing ready: it cannot start
    due, _ = make_sendable_digest("2025-07-10")
    now = timezone.now()
    schedule_at(broken, now - datetime.timedelta(minutes=1))
    schedule_at(due, now - datetime.timedelta(minutes=2))

    assert schedule.send_due_digests() == [due.pk]
    assert schedule.send_due_digests() == []  # and no error every minute after

    assert Digest.objects.get(pk=broken.pk).status == Digest.Status.MISSED
    assert "no ready entry" in Digest.objects.get(pk=broken.pk).status_note


def test_only_scheduled_digests_whose_time_has_come_are_started(django_capture_on_commit_callbacks):
    due, _ = make_sendable_digest("2025-07-10")
    schedule_at(due, timezone.now() - datetime.timedelta(minutes=1))
    later, _ = make_sendable_digest("2025-07-11")
    schedule_at(later, timezone.now() + datetime.timedelta(hours=1))
    draft, _ = make_sendable_digest("2025-07-12")
    make_reader("reader@example.com")

    with django_capture_on_commit_callbacks(execute=False):
        assert schedule.send_due_digests() == [due.pk]

    assert dict(Digest.objects.values_list("pk", "status")) == {
        due.pk: "sending",
        later.pk: "scheduled",
        draft.pk: "draft",
    }


# --- Send now, cancel (pause), resume -----------------------------------------------------


def test_send_now_says_sending_at_once_and_plans_after_commit(
    publisher, broker, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        assert schedule.send_now(digest_id=digest.pk, user=publisher) is True
        assert schedule.send_now(digest_id=digest.pk, user=publisher) is False  # a double click

    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENDING and digest.planned_at is None
    assert broker.plans == [digest.pk] and not Delivery.objects.exists()
    # Nothing planned yet: the sweep must not call it finished.
    assert ledger.finish_if_done(digest_id=digest.pk) is False


def test_cancelling_a_schedule_makes_a_draft_again(publisher):
    digest, _ = make_sendable_digest()
    schedule.schedule_send(
        digest_id=digest.pk, user=publisher, at=timezone.now() + datetime.timedelta(hours=1)
    )

    assert schedule.cancel_send(digest_id=digest.pk, user=publisher) == Digest.Status.DRAFT
    digest.refresh_from_db()
    assert digest.status == Digest.Status.DRAFT and digest.scheduled_at is None


def test_cancel_pauses_and_resume_continues_without_planning_again(
    sink, publisher, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    make_reader("b@example.com")
    batches = queue_send(digest, django_capture_on_commit_callbacks)

    assert schedule.cancel_send(digest_id=digest.pk, user=publisher) == Digest.Status.PAUSED
    send_all(batches)  # tasks already on the broker claim nothing while paused

    assert sink.count == 0
    assert set(statuses(digest).values()) == {"queued"}
    assert Digest.objects.get().status == Digest.Status.PAUSED
    variants = list(DigestVariant.objects.values_list("pk", flat=True))

    from newsletters import tasks

    resumed: list[list[int]] = []
    original, tasks.send_batch.delay = tasks.send_batch.delay, lambda ids: resumed.append(ids)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert schedule.resume_send(digest_id=digest.pk, user=publisher) == 2
    finally:
        tasks.send_batch.delay = original
    send_all(resumed)

    assert set(parsed(sink)) == {"a@example.com", "b@example.com"}
    assert list(DigestVariant.objects.values_list("pk", flat=True)) == variants
    assert Digest.objects.get().status == Digest.Status.SENT


def test_cancel_resume_cancel_resume_gives_every_reader_exactly_one_copy(
    sink, publisher, broker, settings, monkeypatch, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(datetime.datetime(2025, 7, 10, 7, 0, tzinfo=SEOUL), tick=True)
    settings.DELIVERY_BATCH_SIZE = 5
    settings.DELIVERY_LEASE_SECONDS = 300
    monkeypatch.setattr(sending, "RECORD_EVERY", 2)
    digest, _ = make_sendable_digest()
    readers = [make_reader(f"reader{n}@example.com") for n in range(40)]
    run = django_capture_on_commit_callbacks

    # A pause pressed while a batch is on the wire: that batch stops within RECORD_EVERY messages.
    sent_so_far = {"n": 0}
    original_acquire = sending.ratelimit.acquire

    def pause_after_seven() -> None:
        sent_so_far["n"] += 1
        if sent_so_far["n"] == 7:
            schedule.cancel_send(digest_id=digest.pk, user=publisher)
        original_acquire()

    with run(execute=True):
        schedule.send_now(digest_id=digest.pk, user=publisher)
    monkeypatch.setattr(sending.ratelimit, "acquire", pause_after_seven)
    broker.run(run)  # plans, then every batch: the pause stops them
    monkeypatch.setattr(sending.ratelimit, "acquire", original_acquire)
    first = sink.count
    assert Digest.objects.get().status == Digest.Status.PAUSED
    assert 7 <= first <= 8
    assert DigestVariant.objects.count() == 1

    with run(execute=True):
        schedule.resume_send(digest_id=digest.pk, user=publisher)
    broker.run(run, limit=2)  # two batches go, then the editor pauses again
    schedule.cancel_send(digest_id=digest.pk, user=publisher)
    second = sink.count
    assert second == first + 10

    # A worker crashes holding a claimed batch while paused... no: it claimed just before the pause.
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENDING)
    crashed = broker.batches.pop(0)
    token, claimed = ledger.claim(crashed)
    assert claimed == 5
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.PAUSED)

    with run(execute=True):
        schedule.resume_send(digest_id=digest.pk, user=publisher)
    broker.run(run)
    assert Delivery.objects.filter(digest=digest, status="sending").count() == 5
    assert Digest.objects.get().status == Digest.Status.SENDING

    # The dead worker's heartbeat stopped; the sweep gives its rows back, due two beats later.
    time_machine.shift(datetime.timedelta(seconds=3 * settings.DELIVERY_HEARTBEAT_SECONDS + 1))
    with run(execute=True):
        assert ledger.sweep()["requeued"] == 5
    time_machine.shift(datetime.timedelta(seconds=2 * settings.DELIVERY_HEARTBEAT_SECONDS + 1))
    with run(execute=True):
        ledger.sweep()
    broker.run(run)

    received = parsed(sink)  # asserts nobody got two copies
    assert set(received) == {reader.email for reader in readers}
    assert len({message["Message-ID"] for message in received.values()}) == 40
    assert set(statuses(digest).values()) == {"sent"}
    assert Digest.objects.get().status == Digest.Status.SENT
    assert DigestVariant.objects.count() == 1


def test_rows_claimed_just_before_a_pause_wait_for_resume_instead_of_being_skipped(
    sink, publisher, broker, monkeypatch, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    readers = [make_reader(f"reader{n}@example.com") for n in range(3)]
    run = django_capture_on_commit_callbacks
    with run(execute=True):
        schedule.send_now(digest_id=digest.pk, user=publisher)
    real_claim = sending.claim

    def claim_then_editor_pauses(ids):
        # The worker's claim commits, then the editor's cancel commits before it loads the rows.
        claimed = real_claim(ids)
        schedule.cancel_send(digest_id=digest.pk, user=publisher)
        return claimed

    monkeypatch.setattr(sending, "claim", claim_then_editor_pauses)
    broker.run(run)
    monkeypatch.setattr(sending, "claim", real_claim)

    assert sink.count == 0
    assert set(statuses(digest).values()) == {"queued"}
    assert Digest.objects.get().status == Digest.Status.PAUSED
    with run(execute=True):
        assert schedule.resume_send(digest_id=digest.pk, user=publisher) == 3
    broker.run(run)
    assert set(parsed(sink)) == {reader.email for reader in readers}
    assert Digest.objects.get().status == Digest.Status.SENT


def test_resume_of_a_sent_or_draft_digest_is_refused(
    sink, publisher, broker, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    with pytest.raises(planning.DeliveryError, match="draft digest cannot be resumed"):
        schedule.resume_send(digest_id=digest.pk, user=publisher)
    make_reader("a@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        schedule.send_now(digest_id=digest.pk, user=publisher)
    broker.run(django_capture_on_commit_callbacks)

    with pytest.raises(planning.DeliveryError, match="sent digest cannot be resumed"):
        schedule.resume_send(digest_id=digest.pk, user=publisher)
    with pytest.raises(planning.DeliveryError, match="sent digest cannot be cancelled"):
        schedule.cancel_send(digest_id=digest.pk, user=publisher)
    assert sink.count == 1


def test_a_pause_before_planning_ran_plans_on_resume(
    publisher, broker, sink, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        schedule.send_now(digest_id=digest.pk, user=publisher)
    schedule.cancel_send(digest_id=digest.pk, user=publisher)
    broker.run(django_capture_on_commit_callbacks)  # planned while paused: rows wait, queued
    assert sink.count == 0 and statuses(digest) == {"a@example.com": "queued"}

    with django_capture_on_commit_callbacks(execute=True):
        schedule.resume_send(digest_id=digest.pk, user=publisher)
    broker.run(django_capture_on_commit_callbacks)

    assert sink.count == 1 and Digest.objects.get().status == Digest.Status.SENT


def test_retry_failed_sends_again_to_readers_still_active(
    sink, settings, publisher, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    digest, _ = make_sendable_digest()
    make_reader("refused@example.com")
    make_reader("bounced@example.com")
    sink.refuse["refused@example.com"] = "451 4.3.0 try later"
    sink.refuse["bounced@example.com"] = "550 5.1.1 no such user"
    send_all(queue_send(digest, django_capture_on_commit_callbacks))
    assert statuses(digest) == {"refused@example.com": "failed", "bounced@example.com": "failed"}
    assert "retry-failed" in schedule.available_actions(Digest.objects.get())

    sink.refuse.clear()
    batches: list[list[int]] = []
    from newsletters import tasks

    tasks.send_batch.delay, original = (lambda ids: batches.append(ids)), tasks.send_batch.delay
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert schedule.retry_failed(digest_id=digest.pk, user=publisher) == 1
    finally:
        tasks.send_batch.delay = original
    send_all(batches)

    assert statuses(digest) == {"refused@example.com": "sent", "bounced@example.com": "failed"}
    assert set(parsed(sink)) == {"refused@example.com"}
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT
    # The bounced address was suppressed: nothing left worth retrying, so no button.
    assert schedule.available_actions(digest) == []


class RefusesContentHandler(ScriptedHandler):
    """A server that also refuses, after DATA, the messages to addresses in refuse_data."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_data: set[str] = set()

    async def handle_DATA(self, server, session, envelope) -> str:
        if {address.lower() for address in envelope.rcpt_tos} & self.refuse_data:
            return "554 5.7.1 message refused as spam"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("sink_handler", [RefusesContentHandler()], ids=["data-refusals"])
def test_retry_failed_queues_temporary_and_fixable_failures_never_refused_addresses(
    sink, settings, publisher, broker, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1  # a temporary refusal gives up at once
    run = django_capture_on_commit_callbacks
    digest, _ = make_sendable_digest()
    for name in ("fine", "busy", "spam", "unknown", "leaver"):
        make_reader(f"{name}@example.com")
    sink.refuse.update(
        {
            "busy@example.com": "451 4.3.0 mailbox busy",
            "leaver@example.com": "452 4.2.2 mailbox full",
            "unknown@example.com": "550 5.1.1 no such user",
        }
    )
    sink.refuse_data.add("spam@example.com")
    with run(execute=True):
        schedule.send_now(digest_id=digest.pk, user=publisher)
    broker.run(run)
    Subscriber.objects.get(email="leaver@example.com").unsubscribe(source="test")

    assert Digest.objects.get().status == Digest.Status.SENT
    assert statuses(digest) == {
        "fine@example.com": "sent",
        "busy@example.com": "failed",
        "spam@example.com": "failed",
        "unknown@example.com": "failed",
        "leaver@example.com": "failed",
    }
    # Gave up after temporary refusals; refused as a message (ours to fix); refused as an address
    # (now suppressed) or a reader who left: only the first two kinds are worth another try.
    assert schedule.failures_by_kind(digest.pk) == {"transient": 1, "other": 1, "reader": 2}
    assert Subscriber.objects.get(email="unknown@example.com").state == Subscriber.Status.BOUNCED

    sink.refuse.clear()
    sink.refuse_data.clear()  # the content was fixed, the mailbox is free again
    with run(execute=True):
        assert schedule.retry_failed(digest_id=digest.pk, user=publisher) == 2
    assert Digest.objects.get().status == Digest.Status.SENDING
    broker.run(run)

    assert statuses(digest) == {
        "fine@example.com": "sent",
        "busy@example.com": "sent",
        "spam@example.com": "sent",
        "unknown@example.com": "failed",
        "leaver@example.com": "failed",
    }
    assert sorted(parsed(sink)) == ["busy@example.com", "fine@example.com", "spam@example.com"]
    assert Digest.objects.get().status == Digest.Status.SENT
    assert schedule.failures_by_kind(digest.pk) == {"transient": 0, "other": 0, "reader": 2}
    assert "retry-failed" not in schedule.available_actions(Digest.objects.get())
    # A second press (a stale page) has nothing to queue: never a second copy.
    with run(execute=True):
        assert schedule.retry_failed(digest_id=digest.pk, user=publisher) == 0
    broker.run(run)
    assert sink.count == 3 and Digest.objects.get().status == Digest.Status.SENT


@pytest.mark.parametrize(
    "status, actions",
    [
        ("draft", ["send-now", "schedule"]),
        ("scheduled", ["send-now", "schedule", "cancel"]),
        ("missed", ["send-now", "schedule", "cancel"]),
        ("sending", ["cancel"]),
        ("paused", ["resume"]),
        ("sent", []),
    ],
)
def test_the_actions_offered_match_the_state(status, actions):
    digest, _ = make_sendable_digest()
    digest.status = status
    assert schedule.available_actions(digest) == actions
