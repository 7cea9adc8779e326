"""The wire: digest messages sent to a real SMTP server on 127.0.0.1 and read back as they arrived."""

import email
import email.policy
import smtplib

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import get_connection

from newsletters.mail.content import email_entries_for, render_variant
from newsletters.mail.messages import build_message_template, make_message_id
from tests.newsletters.mail.test_rendering import OWN_LARGE_DAY, hrefs, import_day

FROM = "Research Digest <digest@example.com>"


class Sink:
    """An aiosmtpd handler keeping every message, and which connection brought it."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(
            (id(session), envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 Message accepted"


class EphemeralController(Controller):
    """A Controller on a port the OS picks (port=0), so parallel test runs never collide."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_sink():
    sink = Sink()
    controller = EphemeralController(sink, hostname="127.0.0.1", port=0)
    controller.start()
    yield sink, controller.port
    controller.stop()


@pytest.fixture
def digest_template(db, settings):
    settings.DEFAULT_FROM_EMAIL = FROM
    settings.SITE_URL = "https://digest.example.com"
    digest = import_day(OWN_LARGE_DAY)
    entries = email_entries_for(digest)
    rendered = render_variant(
        digest=digest, entry_ids=list(entries)[:4], language="both", email_entries=entries
    )
    return digest, build_message_template(rendered)


def reader_fields(digest_id: int, n: int) -> dict:
    return {
        "to": f"reader{n}@example.org",
        "message_id": make_message_id(digest_id=digest_id, subscriber_id=n, domain="digest.example.com"),
        "unsubscribe_url": f"https://digest.example.com/unsubscribe/token-{n}/?one-click=1&r={n}",
        "unsubscribe_mailto": f"mailto:unsubscribe+{n}@digest.example.com",
        "preferences_url": f"https://digest.example.com/preferences/token-{n}/",
    }


def test_three_readers_get_their_own_links_over_one_smtp_connection(smtp_sink, digest_template):
    sink, port = smtp_sink
    digest, template = digest_template
    readers = [reader_fields(digest.pk, n) for n in (1, 2, 3)]

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for fields in readers:
            refused = smtp.sendmail("bounces@example.com", [fields["to"]], template.render(**fields))
            assert refused == {}

    assert len(sink.received) == 3
    assert len({connection for connection, *_ in sink.received}) == 1
    for fields, (_, mail_from, rcpt_tos, data) in zip(readers, sink.received, strict=True):
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert mail_from == "bounces@example.com"
        assert rcpt_tos == [fields["to"]]
        assert message["To"] == fields["to"]
        assert message["From"] == FROM
        assert message["Message-ID"] == fields["message_id"]
        assert (
            message["List-Unsubscribe"] == f"<{fields['unsubscribe_url']}>, <{fields['unsubscribe_mailto']}>"
        )
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Subject"].startswith("[Research Digest] 6월 2일 · Jun 2: Scaling Laws")
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert fields["unsubscribe_url"] in text and fields["preferences_url"] in text
        assert fields["unsubscribe_url"] in hrefs(html) and fields["preferences_url"] in hrefs(html)
        others = [other for other in readers if other is not fields]
        assert not any(other["unsubscribe_url"] in text + html for other in others)
        assert "Scaling Laws for Sparse Mixture-of-Experts Routing at Long Context" in html
        assert "Low-Rank Adapters" not in html  # the fifth entry is not in this variant
        assert not message.defects


def test_the_message_for_an_esp_backend_also_arrives_whole_through_djangos_smtp_backend(
    smtp_sink, digest_template
):
    sink, port = smtp_sink
    digest, template = digest_template
    fields = reader_fields(digest.pk, 4)
    connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port)

    sent = template.as_django_message(**fields, connection=connection).send()

    assert sent == 1
    ((_, _, rcpt_tos, data),) = sink.received
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert rcpt_tos == ["reader4@example.org"]
    assert message["Message-ID"] == fields["message_id"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert fields["unsubscribe_url"] in hrefs(message.get_body(("html",)).get_content())
    assert message.get_all("To") == ["reader4@example.org"]
