"""The MIME message built once per variant: each reader's copy, its headers, and what it refuses."""

import datetime
import email
import email.policy
from email.headerregistry import Address

import pytest

from newsletters.mail.messages import MessageTemplate, build_message_template, encode_header, make_message_id
from newsletters.mail.rendering import RenderedEmail, render_digest_variant
from tests.newsletters.mail.test_rendering import email_entry, hrefs

FROM = "Research Digest <digest@example.com>"
LIST_ID = "Research Digest <digest.example.com>"
INJECTION = "\r\nBcc: evil@example.com"
ENCODED_WORD_TRICK = "=?utf-8?q?=0D=0ABcc:_evil@example.com?="
# Long enough to be folded by quoted-printable, and with the characters HTML must escape.
UNSUBSCRIBE = "https://digest.example.com/unsubscribe/" + "a1b2c3:d4e5f6-" * 8 + "?one=1&two=2"
PREFERENCES = "https://digest.example.com/preferences/" + "z9" * 40 + "/?lang=ko&x=y"
MAILTO = "mailto:unsubscribe@digest.example.com?subject=unsubscribe%20" + "q" * 40


def variant(language: str = "both", **entry_overrides) -> RenderedEmail:
    return render_digest_variant(
        date=datetime.date(2025, 7, 10),
        entries=[email_entry(1, **entry_overrides), email_entry(2)],
        language=language,
        site_name="Research Digest",
        site_url="https://digest.example.com",
    )


def reader(n: int = 7, **overrides) -> dict:
    fields = {
        "to": f"reader{n}@example.org",
        "message_id": make_message_id(digest_id=3, subscriber_id=n, domain="digest.example.com"),
        "unsubscribe_url": f"{UNSUBSCRIBE}&r={n}",
        "unsubscribe_mailto": MAILTO,
        "preferences_url": f"{PREFERENCES}&r={n}",
        "date": datetime.datetime(2025, 7, 10, 7, 0, tzinfo=datetime.UTC),
    }
    fields.update(overrides)
    return fields


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def parts(message) -> tuple[str, str]:
    """The decoded text and HTML, with line breaks as a mail client shows them."""
    return tuple(
        message.get_body((subtype,)).get_content().replace("\r\n", "\n") for subtype in ("plain", "html")
    )


@pytest.mark.parametrize(
    ("language", "korean", "encoding"),
    [("en", "", "quoted-printable"), ("ko", "한국어로 쓴 긴 해설입니다. " * 300, "base64")],
)
def test_each_readers_links_come_out_intact_after_the_transfer_encoding(language, korean, encoding):
    # Mostly-ASCII HTML goes quoted-printable, Korean-heavy HTML base64: both must keep the links.
    rendered = variant(language, **({"commentary_ko": korean} if korean else {}))
    template = MessageTemplate(rendered, from_email=FROM, list_id=LIST_ID)

    message = parse(template.render(**reader(7)))

    text, html = parts(message)
    assert message.get_body(("html",))["Content-Transfer-Encoding"] == encoding
    assert f"{UNSUBSCRIBE}&r=7" in text and f"{PREFERENCES}&r=7" in text
    assert f"{UNSUBSCRIBE}&r=7" in hrefs(html) and f"{PREFERENCES}&r=7" in hrefs(html)
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}&r=7>, <{MAILTO}>"
    assert "%%" not in text and "%%" not in html
    # Everything but the reader's links is exactly the rendered variant.
    assert text == rendered.text.replace("%%UNSUBSCRIBE_URL%%", f"{UNSUBSCRIBE}&r=7").replace(
        "%%PREFERENCES_URL%%", f"{PREFERENCES}&r=7"
    )


def test_readers_of_one_variant_differ_only_in_their_own_fields():
    template = MessageTemplate(variant(), from_email=FROM, list_id=LIST_ID)

    first, second = parse(template.render(**reader(1))), parse(template.render(**reader(2)))

    assert first["To"] == "reader1@example.org" and second["To"] == "reader2@example.org"
    assert first["Message-ID"] != second["Message-ID"]
    assert f"{UNSUBSCRIBE}&r=1" in parts(first)[0] and f"{UNSUBSCRIBE}&r=1" not in parts(second)[0]
    assert f"{UNSUBSCRIBE}&r=2" in parts(second)[0]
    assert first["Subject"] == second["Subject"]


def test_a_message_carries_every_header_a_list_needs():
    rendered = variant("ko")
    template = MessageTemplate(rendered, from_email=FROM, list_id=LIST_ID, reply_to="editor@example.com")

    message = parse(template.render(**reader(7)))

    assert message["From"] == FROM
    assert message["Reply-To"] == "editor@example.com"
    assert message["To"] == "reader7@example.org"
    assert message["Subject"] == rendered.subject
    assert message["Date"] == "Thu, 10 Jul 2025 07:00:00 +0000"
    assert message["Message-ID"] == "<digest-3.reader-7@digest.example.com>"
    assert message["List-Id"] == LIST_ID
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    assert not message.defects


def test_the_message_id_is_the_same_for_a_digest_and_reader_on_every_attempt():
    template = MessageTemplate(variant(), from_email=FROM, list_id=LIST_ID)
    first_try = parse(template.render(**reader(7, date=None)))
    again = MessageTemplate(variant(), from_email=FROM, list_id=LIST_ID)

    retry = parse(again.render(**reader(7, date=None)))

    assert first_try["Message-ID"] == retry["Message-ID"] == "<digest-3.reader-7@digest.example.com>"
    assert make_message_id(digest_id=3, subscriber_id=8, domain="digest.example.com") != retry["Message-ID"]
    assert make_message_id(digest_id=4, subscriber_id=7, domain="digest.example.com") != retry["Message-ID"]


@pytest.mark.parametrize("language", ["ko", "en", "both"])
def test_every_line_of_the_message_is_at_most_998_bytes_and_the_bodies_are_ascii(language):
    long_title = "Ultra " * 300 + "한국어 제목 " * 100
    template = MessageTemplate(variant(language, title=long_title), from_email=FROM, list_id=LIST_ID)

    data = template.render(**reader(7, unsubscribe_url="https://x.example/" + "u" * 880))

    assert data.isascii()
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    # Encoded bodies keep to MIME's 76 characters; only the List-Unsubscribe URL runs longer.
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


@pytest.mark.parametrize(
    "evil",
    [
        INJECTION,
        ENCODED_WORD_TRICK,
        "\nBcc: evil@example.com",
        "\rTo: evil@example.com",
        "\x85Bcc: e@example.com",
    ],
)
def test_line_breaks_or_encoded_words_in_titles_names_and_tags_never_add_headers_or_recipients(evil):
    rendered = render_digest_variant(
        date=datetime.date(2025, 7, 10),
        entries=[
            email_entry(1, title=f"Paper{evil}", authors=(f"Ada{evil}",), tags=(f"rl{evil}",)),
            email_entry(2),
        ],
        language="en",
        site_name=f"Digest{evil}",
        site_url="https://digest.example.com",
    )
    template = MessageTemplate(rendered, from_email=FROM, list_id=f"Digest{evil} <digest.example.com>")

    data = template.render(**reader(7))
    message = parse(data)

    assert message.get_all("To") == ["reader7@example.org"]
    assert len(message["To"].addresses) == 1
    assert message.get_all("Bcc") is None and message.get_all("Cc") is None
    assert [name.lower() for name in message.keys()] == [
        "to", "date", "message-id", "list-unsubscribe", "from", "subject", "list-id",
        "list-unsubscribe-post", "mime-version", "content-type",
    ]  # fmt: skip
    # A literal "=?...?=" reaches the reader as the text it was, not as a decoded header.
    assert message["Subject"].startswith("[Digest")
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    if evil == ENCODED_WORD_TRICK:
        assert ENCODED_WORD_TRICK in message["Subject"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("to", "reader@example.org" + INJECTION),
        ("to", "reader@example.org, evil@example.com"),
        ("to", "Reader <reader@example.org>"),
        ("to", "reader@example.org\n"),
        ("to", ""),
        ("message_id", "<digest-3.reader-7@example.com>" + INJECTION),
        ("message_id", "not-an-id"),
        ("unsubscribe_url", "https://example.com/u" + INJECTION),
        ("unsubscribe_url", "https://example.com/u>, <https://evil.example.com/"),
        ("unsubscribe_url", "javascript:alert(1)"),
        ("unsubscribe_mailto", "mailto:u@example.com" + INJECTION),
        ("preferences_url", 'https://example.com/p" onclick="alert(1)'),
        ("preferences_url", "https://example.com/" + "p" * 1000),
    ],
)
def test_a_reader_field_that_could_break_the_message_is_refused(field, value):
    template = MessageTemplate(variant(), from_email=FROM, list_id=LIST_ID)

    with pytest.raises(ValueError):
        template.render(**reader(7, **{field: value}))


@pytest.mark.parametrize(
    "from_email", ["digest@example.com" + INJECTION, "a@example.com, b@example.com", "not an address"]
)
def test_a_from_address_that_is_not_one_clean_address_is_refused(from_email):
    with pytest.raises(ValueError):
        MessageTemplate(variant(), from_email=from_email, list_id=LIST_ID)


def test_non_ascii_names_and_long_subjects_are_encoded_and_folded():
    rendered = variant("ko", title="강화학습의 엔트로피 메커니즘 " * 8)
    template = MessageTemplate(rendered, from_email="연구 다이제스트 <digest@example.com>", list_id=LIST_ID)

    data = template.render(**reader(7))
    message = parse(data)

    assert message["From"].addresses[0] == Address("연구 다이제스트", addr_spec="digest@example.com")
    assert message["Subject"] == rendered.subject
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"\r\n =?utf-8?b?" in head  # folded into several encoded words
    assert max(len(line) for line in head.split(b"\r\n")) <= 78 + len(reader()["unsubscribe_url"])


@pytest.mark.parametrize("site_name", ["연구 다이제스트", "Digest: AI, ML", "Research Digest"])
def test_the_list_id_keeps_its_identifier_readable_whatever_the_site_name(site_name):
    template = MessageTemplate(variant(), from_email=FROM, list_id=f"{site_name} <digest.example.com>")

    message = parse(template.render(**reader(7)))

    assert message["List-Id"] == f"{site_name} <digest.example.com>"
    assert message["List-Id"].endswith("<digest.example.com>")
    raw = template.render(**reader(7)).split(b"\r\n\r\n", 1)[0]
    assert b"<digest.example.com>\r\n" in raw


def test_an_ascii_subject_stays_readable_and_is_folded_at_spaces():
    folded = encode_header("Subject", "word " * 40)

    assert folded.endswith(b"\r\n")
    assert all(len(line) <= 76 for line in folded.split(b"\r\n"))
    assert b"=?" not in folded
    assert parse(folded + b"\r\n")["Subject"] == ("word " * 40).strip()


def test_the_message_for_an_esp_has_the_same_headers_and_bodies(settings):
    settings.DEFAULT_FROM_EMAIL = FROM
    settings.SITE_NAME = "Research Digest"
    settings.SITE_URL = "https://digest.example.com"
    template = build_message_template(variant())
    smtp_copy = parse(template.render(**reader(7)))

    esp_message = template.as_django_message(**reader(7))
    esp_copy = parse(esp_message.message().as_bytes())

    assert esp_message.to == ["reader7@example.org"]
    for name in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert esp_copy[name].strip() == smtp_copy[name], name
    assert parts(esp_copy) == parts(smtp_copy)


def test_the_message_for_an_esp_refuses_the_same_bad_fields():
    template = MessageTemplate(variant(), from_email=FROM, list_id=LIST_ID)

    with pytest.raises(ValueError):
        template.as_django_message(**reader(7, to="a@example.org" + INJECTION))
