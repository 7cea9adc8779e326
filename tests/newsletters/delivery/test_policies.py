"""A send that cannot send stops and says why; readers who leave are honoured to the last message."""

import socket

import pytest
from aiosmtpd.smtp import AuthResult
from django.core.management import CommandError, call_command
from django.urls import reverse

from newsletters import tasks
from newsletters.delivery import planning, policies, schedule, sending
from newsletters.delivery.senders import SMTPSender
from newsletters.mail.smtpsink import ScriptedHandler, start_sink
from newsletters.models import Delivery, Digest
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


@pytest.fixture
def staff_mail(settings):
    """Staff alerts into mailoutbox, as ALERT_EMAIL_BACKEND sends them past a broken SMTP server."""
    settings.ADMINS = [("Staff", "staff@example.com")]
    settings.ALERT_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_a_refused_connection_at_the_start_pauses_the_send_tells_staff_and_loses_nobody(
    sink, settings, staff_mail, mailoutbox, monkeypatch, django_capture_on_commit_callbacks, client
):
    digest, _ = make_sendable_digest()
    for n in range(3):
        make_reader(f"r{n}@example.com")
    batches = queue_send(digest, django_capture_on_commit_callbacks)
    port, settings.EMAIL_PORT = settings.EMAIL_PORT, 1  # nothing listens there

    [result] = send_all(batches)

    rows = list(Delivery.objects.filter(digest=digest))
    assert [(r.status, r.attempts) for r in rows] == [("queued", 0)] * 3
    assert all("connection to 127.0.0.1:1 refused" in r.last_error for r in rows)
    assert result.retry_ids == []  # paused: nothing goes back on the broker until Resume
    digest.refresh_from_db()
    assert digest.status == Digest.Status.PAUSED
    assert "connection to 127.0.0.1:1 refused; check EMAIL_HOST and EMAIL_PORT" in digest.status_note
    [alert] = mailoutbox
    assert alert.to == ["staff@example.com"] and "paused" in alert.subject and "refused" in alert.body

    editor = make_staff("editor", can_send=True)
    client.force_login(editor)
    for page in ("admin:newsletters_digest_changelist", "admin:newsletters_digest_delivery"):
        html = client.get(reverse(page, args=[digest.pk] if "delivery" in page else [])).content.decode()
        assert "paused-banner" in html and "127.0.0.1:1 refused" in html

    settings.EMAIL_PORT = port
    broker = Broker(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        schedule.resume_send(digest_id=digest.pk, user=editor)
    broker.run(django_capture_on_commit_callbacks)
    assert set(parsed(sink)) == {"r0@example.com", "r1@example.com", "r2@example.com"}
    assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENT


def test_mid_send_connection_failures_pause_only_after_several_in_a_row(
    sink, settings, staff_mail, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 2
    settings.DELIVERY_PAUSE_AFTER_FAILURES = 3
    digest, _ = make_sendable_digest()
    for n in range(8):
        make_reader(f"r{n}@example.com")
    first, *rest = queue_send(digest, django_capture_on_commit_callbacks)
    sending.send_batch(first)  # delivered: the server worked for this send
    port, settings.EMAIL_PORT = settings.EMAIL_PORT, 1

    sending.send_batch(rest[0])
    sending.send_batch(rest[1])
    assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENDING  # a blip, maybe
    settings.EMAIL_PORT = port
    sending.send_batch(rest[0])  # it worked again: the count starts over
    settings.EMAIL_PORT = 1
    sending.send_batch(rest[1])
    sending.send_batch(rest[2])
    assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENDING
    sending.send_batch(rest[1])

    digest.refresh_from_db()
    assert digest.status == Digest.Status.PAUSED
    assert "3 connection failures in a row" in digest.status_note
    assert sink.count == 4
    assert Delivery.objects.filter(digest=digest, status="queued", attempts=0).count() == 4


@pytest.fixture
def auth_sink(settings):
    """A sink that requires a login (user "digest", password "right")."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"digest", b"right")
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    handler = ScriptedHandler()
    controller = start_sink(
        handler,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    settings.EMAIL_BACKEND = "digest_site.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "digest", "wrong"
    settings.EMAIL_TIMEOUT = 5
    settings.DELIVERY_RATE_LIMIT = 0
    yield handler
    controller.stop()


@pytest.mark.django_db(transaction=True)
def test_send_digest_wait_exits_with_the_reason_when_the_password_is_wrong(
    auth_sink, settings, staff_mail, monkeypatch, mailoutbox
):
    # The workers, in this process: each task runs when it is enqueued (after commit).
    monkeypatch.setattr(tasks.plan_send, "delay", lambda digest_id: planning.plan_send(digest_id=digest_id))
    monkeypatch.setattr(tasks.send_batch, "delay", lambda ids: sending.send_batch(ids))
    digest, _ = make_sendable_digest()
    for n in range(3):
        make_reader(f"r{n}@example.com")
    make_staff("operator", can_send=True)

    with pytest.raises(CommandError) as stopped:
        call_command("send_digest", "2025-07-10", "--wait", "--user", "operator", "--poll", "0.01")

    assert "paused" in str(stopped.value) and "login to 127.0.0.1" in str(stopped.value)
    assert "check EMAIL_HOST_USER/EMAIL_HOST_PASSWORD" in str(stopped.value)
    assert auth_sink.count == 0
    assert set(statuses(digest).values()) == {"queued"}
    assert [m.to for m in mailoutbox] == [["staff@example.com"]]

    settings.EMAIL_HOST_PASSWORD = "right"
    schedule.resume_send(digest_id=digest.pk, user=make_staff("fixer", can_send=True))
    assert set(statuses(digest).values()) == {"sent"} and auth_sink.count == 3


def test_a_relay_refusal_pauses_instead_of_suppressing_every_reader(
    sink, staff_mail, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    for n in range(3):
        make_reader(f"r{n}@example.com")
        sink.refuse[f"r{n}@example.com"] = "554 5.7.1 Relay access denied"

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert Subscriber.objects.filter(state=Subscriber.Status.ACTIVE).count() == 3
    digest.refresh_from_db()
    assert digest.status == Digest.Status.PAUSED and "will not relay" in digest.status_note


def test_a_digest_nobody_received_is_failed_and_not_in_the_archive(
    sink, client, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    for n in range(3):
        make_reader(f"r{n}@example.com")
        sink.refuse[f"r{n}@example.com"] = "550 5.1.1 no such user"

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    digest.refresh_from_db()
    assert digest.status == Digest.Status.FAILED and "not delivered to anyone: 3 failed" in digest.status_note
    assert client.get(digest.get_absolute_url()).status_code == 404
    assert "2025-07-10" not in client.get(reverse("newsletters:rss")).content.decode()
    assert "retry-failed" not in schedule.available_actions(digest)  # the readers were suppressed


def test_the_send_page_groups_failures_by_reason_with_examples_and_each_readers_last_error(
    sink, settings, client, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    digest, _ = make_sendable_digest()
    for n in range(4):
        make_reader(f"gone{n}@example.com")
        sink.refuse[f"gone{n}@example.com"] = f"550 5.1.1 <gone{n}@example.com>: no such user"
    make_reader("busy@example.com")
    sink.refuse["busy@example.com"] = "451 4.2.0 mailbox busy"
    make_reader("ok@example.com")
    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    summary = policies.failure_summary(digest_id=digest.pk)
    reasons = {g["reason"]: (g["failed"], g["retrying"]) for g in summary["groups"]}
    assert reasons == {"RCPT 550": (4, 0), "RCPT 451": (0, 1)}

    editor = make_staff("editor", can_send=True)
    client.force_login(editor)
    html = client.get(reverse("admin:newsletters_digest_delivery", args=[digest.pk])).content.decode()
    assert "Failures by reason" in html and "RCPT 550" in html and "RCPT 451" in html
    assert "reader #" in html and "gone0@example.com" not in html  # no address permission
    assert "mailbox busy" in html

    from django.contrib.auth.models import Permission

    editor.user_permissions.add(Permission.objects.get(codename="view_subscriber_email"))
    client.force_login(make_staff("viewer", can_send=False))
    html = client.get(reverse("admin:newsletters_digest_delivery", args=[digest.pk])).content.decode()
    assert "gone0@example.com" not in html
    client.force_login(type(editor).objects.get(pk=editor.pk))
    html = client.get(reverse("admin:newsletters_digest_delivery", args=[digest.pk])).content.decode()
    assert "gone0@example.com" in html and "busy@example.com" in html


def test_a_reader_who_unsubscribes_while_their_batch_is_on_the_wire_gets_nothing_from_ten_messages_on(
    sink, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 100
    digest, _ = make_sendable_digest()
    readers = [make_reader(f"r{n:02}@example.com") for n in range(30)]
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    real_send = SMTPSender.send
    looks = []
    monkeypatch.setattr(
        policies, "readers_state", lambda ids, real=policies.readers_state: looks.append(ids) or real(ids)
    )

    def send_then_leave(self, template, *, from_address, fields):
        message_id = real_send(self, template, from_address=from_address, fields=fields)
        if fields["to"] == "r09@example.com":
            # Reader 12 presses one-click unsubscribe while reader 9's message is on the wire.
            readers[12].unsubscribe(source="one-click")
        return message_id

    monkeypatch.setattr(SMTPSender, "send", send_then_leave)
    sending.send_batch(batch)

    got = set(parsed(sink))
    assert "r12@example.com" not in got and len(got) == 29
    row = Delivery.objects.get(digest=digest, subscriber=readers[12])
    assert row.status == "skipped" and row.last_error == "reader unsubscribed before sending"
    # One look per ten messages: cheap, and never more than ten messages late.
    assert len(looks) == 3 and all(len(ids) <= policies.CHECK_EVERY for ids in looks)


def test_a_server_that_never_greets_pauses_the_send_only_after_several_tries_in_a_row(
    sink, settings, staff_mail, mailoutbox, django_capture_on_commit_callbacks
):
    settings.DELIVERY_PAUSE_AFTER_FAILURES = 3
    settings.EMAIL_TIMEOUT = 0.3
    digest, _ = make_sendable_digest()
    make_reader("r0@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections (the kernel does) and never says a word
    settings.EMAIL_PORT = silent.getsockname()[1]
    try:
        first = sending.send_batch(batch)
        sending.send_batch(batch)
        assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENDING  # a busy server, maybe
        assert first.retry_ids == batch and first.retry_countdown > 0  # tried again later, not at once
        sending.send_batch(batch)
    finally:
        silent.close()

    digest.refresh_from_db()
    assert digest.status == Digest.Status.PAUSED and "3 connection failures in a row" in digest.status_note
    assert Delivery.objects.get(digest=digest).attempts == 0
    schedule.resume_send(digest_id=digest.pk, user=make_staff("editor", can_send=True))
    assert Digest.objects.get(pk=digest.pk).connection_failures == 0
