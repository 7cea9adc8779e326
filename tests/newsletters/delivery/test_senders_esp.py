"""The ESP path: through django-anymail (its own test backend) a reader gets the message SMTP sends."""

import email
import email.policy
from urllib.parse import unquote, urlsplit

import pytest
import time_machine
from django.core import mail

from newsletters.models import Delivery, Digest
from subscribers import tokens
from tests.newsletters.delivery.helpers import (
    body_html,
    body_text,
    make_reader,
    make_sendable_digest,
    parsed,
    queue_send,
    send_all,
)

pytestmark = pytest.mark.django_db
ESP_BACKEND = "anymail.backends.test.EmailBackend"
HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)


def esp_messages() -> dict[str, email.message.EmailMessage]:
    """What the anymail test backend was handed, as the parsed messages, by recipient."""
    result = {}
    for message in mail.outbox:
        [to] = message.to
        result[to] = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)
    return result


def unsubscribe_reader(list_unsubscribe: str) -> tuple[int, int]:
    """The subscriber ids the https and the mailto unsubscribe links of a List-Unsubscribe act for."""
    https, mailto = (part.strip(" <>") for part in list_unsubscribe.split(","))
    https_token = urlsplit(https).path.rstrip("/").rsplit("/", 1)[1]
    mailto_token = unquote(mailto.split("subject=", 1)[1]).split(" ", 1)[1]
    return tokens.read_token(https_token, tokens.UNSUBSCRIBE), tokens.read_token(
        mailto_token, tokens.UNSUBSCRIBE
    )


def lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").splitlines()


# Time stands still, so that both paths sign the same links and write the same Date.
@time_machine.travel("2025-07-10 06:00 +09:00", tick=False)
def test_an_esp_gets_the_same_headers_message_id_links_and_bodies_as_smtp(
    sink, settings, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    readers = [
        make_reader("ko-rl@example.com", language="ko", tags=("rl",)),
        make_reader("en-nlp@example.com", language="en", tags=("nlp",)),
        make_reader("both@example.com", language="both"),
    ]
    batches = queue_send(digest, django_capture_on_commit_callbacks)
    send_all(batches)
    over_smtp = parsed(sink)

    # The same send again, this time handed to the ESP backend.
    Delivery.objects.update(status=Delivery.Status.QUEUED, attempts=0, message_id="", sent_at=None)
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENDING)
    settings.EMAIL_BACKEND = ESP_BACKEND
    mail.outbox = []
    send_all(batches)
    over_esp = esp_messages()

    assert set(over_esp) == set(over_smtp) == {reader.email for reader in readers}
    for reader in readers:
        smtp, esp = over_smtp[reader.email], over_esp[reader.email]
        for name in HEADERS:
            # Django may fold a long Subject onto a continuation line: equal up to that space.
            assert str(esp[name]).strip() == str(smtp[name]).strip(), (reader.email, name)
        assert esp["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe_reader(str(esp["List-Unsubscribe"])) == (reader.pk, reader.pk)
        # SMTP carries text in canonical CRLF form; Django hands the ESP plain newlines.
        assert lines(body_text(esp)) == lines(body_text(smtp))
        assert lines(body_html(esp)) == lines(body_html(smtp))
        assert "TOKEN" not in body_html(esp) and "{{" not in body_text(esp)
    rows = Delivery.objects.filter(digest=digest)
    assert {row.status for row in rows} == {Delivery.Status.SENT}
    assert {row.message_id for row in rows} == {str(m["Message-ID"]) for m in over_esp.values()}
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


def test_an_esp_batch_goes_over_one_backend_connection_and_marks_each_row_sent(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = ESP_BACKEND
    settings.DELIVERY_RATE_LIMIT = 0
    digest, _ = make_sendable_digest()
    for n in range(5):
        make_reader(f"r{n}@example.com")
    mail.outbox = []

    [result] = send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert result.sent == 5 and len(mail.outbox) == 5
    assert len({id(message.connection) for message in mail.outbox}) == 1
    assert all(message.anymail_status.status == {"sent"} for message in mail.outbox)
    assert set(Delivery.objects.filter(digest=digest).values_list("status", flat=True)) == {"sent"}
