"""Soft bounces on consecutive digests suppress an address; too many complaints pause the next digest."""

import base64
import datetime
import json
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from newsletters.delivery import policies, schedule
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from subscribers.suppression import record_soft_bounce
from tests.factories import make_digest
from tests.newsletters.delivery.helpers import (
    make_reader,
    make_sendable_digest,
    make_staff,
    queue_send,
    send_all,
)

pytestmark = pytest.mark.django_db
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
WEBHOOK = "/anymail/postmark/tracking/"
SECRET = "hook:s3cret-s3cret"


@pytest.fixture
def post_event(client, settings):
    """POST a Postmark tracking event through anymail's real webhook, authenticated."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()

    def post(email: str, *, record_type: str, id_: int, at: datetime.datetime, type_: str = "") -> None:
        payload = {"RecordType": record_type, "ID": id_, "Email": email, "Recipient": email}
        payload |= {"BouncedAt": at.isoformat(), "DeliveredAt": at.isoformat(), "Type": type_}
        payload |= {"Description": "mailbox full", "Details": "smtp;452 4.2.2 over quota"}
        response = client.post(
            WEBHOOK, data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth
        )
        assert response.status_code == 200

    return post


def send_day(day: str, capture) -> Digest:
    """The day's digest, sent at 07:00 Seoul that day, every batch run in this process."""
    with time_machine.travel(datetime.datetime.fromisoformat(f"{day}T07:00").replace(tzinfo=SEOUL)):
        digest, _ = make_sendable_digest(day)
        send_all(queue_send(digest, capture))
    return digest


def test_an_address_that_fails_transiently_on_three_digests_in_a_row_is_suppressed_with_its_history(
    sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1  # each digest gives up on its first 451
    busy = make_reader("busy@example.com")
    fine = make_reader("fine@example.com")
    sink.refuse["busy@example.com"] = "451 4.2.2 mailbox full"

    send_day("2025-07-10", django_capture_on_commit_callbacks)
    send_day("2025-07-11", django_capture_on_commit_callbacks)
    busy.refresh_from_db()
    assert (busy.state, busy.soft_bounces) == ("active", 2)

    third = send_day("2025-07-12", django_capture_on_commit_callbacks)

    busy.refresh_from_db()
    assert busy.state == Subscriber.Status.BOUNCED
    event = busy.events.last()
    assert event.source == "smtp" and "soft bounces on 3 digests in a row" in event.detail
    for day in ("2025-07-10", "2025-07-11", "2025-07-12"):
        assert f"{day}: RCPT 451 4.2.2 mailbox full" in event.detail
    assert Subscriber.objects.get(pk=fine.pk).state == "active"
    assert Digest.objects.get(pk=third.pk).status == Digest.Status.SENT  # fine got it


def test_a_delivery_between_soft_bounces_starts_the_count_again(
    sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    busy = make_reader("busy@example.com")
    sink.refuse["busy@example.com"] = "451 4.2.2 mailbox full"
    send_day("2025-07-10", django_capture_on_commit_callbacks)
    send_day("2025-07-11", django_capture_on_commit_callbacks)
    del sink.refuse["busy@example.com"]
    send_day("2025-07-12", django_capture_on_commit_callbacks)
    busy.refresh_from_db()
    assert (busy.soft_bounces, busy.soft_bounce_log) == (0, [])

    sink.refuse["busy@example.com"] = "451 4.2.2 mailbox full"
    send_day("2025-07-13", django_capture_on_commit_callbacks)
    send_day("2025-07-14", django_capture_on_commit_callbacks)

    busy.refresh_from_db()
    assert (busy.state, busy.soft_bounces) == ("active", 2)


def test_one_digest_counts_once_however_many_times_it_soft_bounces():
    reader = make_reader("busy@example.com")
    day = datetime.date(2025, 7, 10)
    for _ in range(5):
        record_soft_bounce(reader.pk, on=day, detail="451", source="smtp")
    reader.refresh_from_db()
    assert (reader.state, reader.soft_bounces) == ("active", 1)


def test_esp_soft_bounces_on_three_days_suppress_and_a_delivered_event_resets(post_event):
    reader = make_reader("busy@example.com")
    start = datetime.datetime(2025, 7, 10, 7, 5, tzinfo=SEOUL)
    soft = {"record_type": "Bounce", "type_": "SoftBounce"}

    post_event("busy@example.com", id_=1, at=start, **soft)
    post_event("busy@example.com", id_=1, at=start, **soft)  # a replay counts nothing
    post_event("busy@example.com", id_=2, at=start + datetime.timedelta(days=1), **soft)
    post_event("busy@example.com", record_type="Delivery", id_=3, at=start + datetime.timedelta(days=2))
    reader.refresh_from_db()
    assert (reader.state, reader.soft_bounces) == ("active", 0)

    for n in range(3):
        post_event("busy@example.com", id_=10 + n, at=start + datetime.timedelta(days=3 + n), **soft)

    reader.refresh_from_db()
    assert reader.state == Subscriber.Status.BOUNCED
    assert reader.events.last().source == "esp:postmark"
    assert "soft bounces on 3 digests in a row" in reader.events.last().detail


def sent_digest(day: str, readers: int) -> Digest:
    """A digest already delivered to this many readers (rows written as the ledger leaves them)."""
    digest = make_digest(day, status=Digest.Status.SENT, sent_at=timezone.now())
    people = Subscriber.objects.bulk_create(
        Subscriber(email=f"reader{n}@example.com", state="active") for n in range(readers)
    )
    at = datetime.datetime.fromisoformat(f"{day}T07:00").replace(tzinfo=SEOUL)
    Delivery.objects.bulk_create(
        Delivery(digest=digest, subscriber=person, status=Delivery.Status.SENT, sent_at=at)
        for person in people
    )
    return digest


def test_complaints_warn_from_a_tenth_of_a_percent_and_pause_the_next_digest_from_three_tenths(
    post_event, settings, client, mailoutbox
):
    settings.ADMINS = [("Staff", "staff@example.com")]
    settings.ALERT_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    today = sent_digest("2025-07-10", readers=400)
    tomorrow = make_digest(
        "2025-07-11",
        status=Digest.Status.SCHEDULED,
        scheduled_at=datetime.datetime(2025, 7, 11, 7, tzinfo=SEOUL),
    )
    later = datetime.datetime(2025, 7, 10, 12, tzinfo=SEOUL)
    editor = make_staff("editor", can_send=True)
    client.force_login(editor)
    page = reverse("admin:newsletters_digest_delivery", args=[today.pk])

    post_event("reader1@example.com", record_type="SpamComplaint", id_=1, at=later)  # 0.25 %
    assert "complaint-warning" in client.get(page).content.decode()
    assert Digest.objects.get(pk=tomorrow.pk).status == Digest.Status.SCHEDULED
    post_event("reader1@example.com", record_type="SpamComplaint", id_=1, at=later)  # a replay
    assert policies.complaint_rate(today.pk)["complaints"] == 1

    post_event("reader2@example.com", record_type="SpamComplaint", id_=2, at=later)  # 0.5 %

    tomorrow.refresh_from_db()
    assert tomorrow.status == Digest.Status.PAUSED
    assert "complaints for the digest of 2025-07-10 reached 0.5 % (2 of 400" in tomorrow.status_note
    assert [m.to for m in mailoutbox] == [["staff@example.com"]] and "paused" in mailoutbox[0].subject
    html = client.get(page).content.decode()
    assert "2 of 400 readers (0.5 %)" in html and "The next scheduled digest is paused" in html
    assert Subscriber.objects.get(email="reader2@example.com").state == "complained"

    # A digest scheduled after the alert is held by beat when it falls due.
    after = make_digest(
        "2025-07-12",
        status=Digest.Status.SCHEDULED,
        scheduled_at=datetime.datetime(2025, 7, 12, 7, tzinfo=SEOUL),
    )
    with time_machine.travel(datetime.datetime(2025, 7, 12, 7, 0, 30, tzinfo=SEOUL)):
        assert schedule.send_due_digests() == []
    after.refresh_from_db()
    assert (
        after.status == Digest.Status.PAUSED
        and "complaints for the digest of 2025-07-10" in after.status_note
    )


def test_a_complaint_below_the_warning_rate_changes_nothing(post_event, client):
    today = sent_digest("2025-07-10", readers=1500)
    post_event(
        "reader1@example.com",
        record_type="SpamComplaint",
        id_=1,
        at=datetime.datetime(2025, 7, 10, 9, tzinfo=SEOUL),
    )
    rate = policies.complaint_rate(today.pk)
    assert (rate["complaints"], rate["warn"], rate["pause"]) == (1, False, False)
