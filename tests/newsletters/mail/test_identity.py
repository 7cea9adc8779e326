"""Our own name in every greeting and Message-ID: the digest, the confirmation, Django's mail."""

import email
import email.policy

import pytest
from django.core.mail import send_mail

from subscribers.subscribing import render_confirmation_email
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest, queue_send, send_all
from tests.subscribers.helpers import make_subscriber

pytestmark = pytest.mark.django_db


def test_the_confirmation_email_message_id_uses_the_configured_domain(settings):
    settings.EMAIL_HELO_NAME = "news.digest-lab.net"
    message = render_confirmation_email(make_subscriber("new@example.com"), ui_language="en").message()

    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"].endswith("@news.digest-lab.net>")


def test_django_mail_greets_the_smtp_server_with_the_configured_name(sink, settings):
    settings.EMAIL_HELO_NAME = "news.digest-lab.net"
    send_mail("Hello", "Body", "digest@news.digest-lab.net", ["reader@example.com"])

    assert sink.helo_names == ["news.digest-lab.net"]


def test_the_digest_greets_with_the_configured_name_and_its_message_ids_use_it(
    sink, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_HELO_NAME = "news.digest-lab.net"
    make_reader("reader@example.com")
    digest, _ = make_sendable_digest()

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert sink.helo_names == ["news.digest-lab.net"]
    (received,) = sink.received
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Message-ID"].endswith("@news.digest-lab.net>")
