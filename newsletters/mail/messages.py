"""The digest's MIME message, built once per variant and completed per reader by substitution.

MessageTemplate pre-encodes everything that is the same for every reader of a variant:
the headers, the MIME structure, and each body part up to its first per-reader placeholder.
render() then adds the reader's headers (To, Date, Message-ID, List-Unsubscribe), puts the
reader's links into the short tail of each part, encodes only that tail, and joins bytes: no
email.message objects, no CSS inlining, no template rendering per reader.

Everything a reader or editor can influence (subject, names, tags, addresses, URLs) is
checked or encoded here so that it can never start a new header line or add a recipient.
This module sends nothing; delivery/senders.py hands render()'s bytes to smtplib.sendmail().
"""

import base64
import binascii
import datetime
import email.policy
import hashlib
import html
import re
from collections.abc import Callable
from email.headerregistry import AddressHeader
from email.utils import format_datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from newsletters.mail.rendering import (
    PREFERENCES_URL_PLACEHOLDER,
    UNSUBSCRIBE_URL_PLACEHOLDER,
    RenderedEmail,
    one_line,
)

CRLF = b"\r\n"
MAX_LINE_BYTES = 998  # RFC 5322 2.1.1, CRLF excluded
MAX_URL_CHARS = 900  # one URL per header line keeps every line under MAX_LINE_BYTES
_FOLD_AT = 76  # RFC 5322 asks for 78; encoded words must stay within 75
_BASE64_LINE_BYTES = 57  # 57 input bytes make one 76-character base64 line
_ENCODED_WORD_BYTES = 45  # UTF-8 bytes per encoded word: =?utf-8?b?<60 chars>?= is 72 characters

# A recipient is one plain ASCII address: nothing that could close the header, add a second
# address (comma, group, angle brackets) or be re-encoded by the SMTP server.
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,200}@[A-Za-z0-9.-]{1,200}>")
_HTTP_URL = re.compile(r"https?://[!#-;=?-~]+")  # printable ASCII without space, quotes or <>
_MAILTO_URL = re.compile(r"mailto:[!#-;=?-~]+")
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]*")  # atoms and spaces: no quoting needed


def make_message_id(*, digest_id: int, subscriber_id: int, domain: str) -> str:
    """The Message-ID of one digest to one reader: the same on every attempt, so retries are recognisable."""
    domain = domain.strip().lower()
    if not re.fullmatch(r"[a-z0-9.-]{1,200}", domain):
        raise ValueError(f"not a domain for a Message-ID: {domain!r}")
    return f"<digest-{int(digest_id)}.reader-{int(subscriber_id)}@{domain}>"


def site_domain() -> str:
    """The site's host name, for Message-IDs and the List-Id."""
    return (urlsplit(settings.SITE_URL).hostname or "localhost").lower()


def list_id(*, site_name: str, domain: str) -> str:
    """The List-Id value (RFC 2919): 'Site name <digest.example.com>'."""
    domain = domain.strip().lower()
    if not re.fullmatch(r"[a-z0-9.-]{1,200}", domain):
        raise ValueError(f"not a domain for a List-Id: {domain!r}")
    return f"{one_line(site_name)} <digest.{domain}>"


def encode_header(name: str, value: str) -> bytes:
    """One unstructured header line, folded, RFC 2047-encoded unless plain ASCII; CR/LF cannot survive."""
    return _fold_words(f"{name}:", _header_words(one_line(value), plain=str.isascii))


def encode_list_id(value: str) -> bytes:
    """The List-Id header: its phrase encoded like a subject, the <list.id> itself left as is."""
    match = re.fullmatch(r"(.*?) ?<([a-z0-9.-]{1,200})>", one_line(value))
    if not match:
        raise ValueError(f"a List-Id is 'Name <list.example.com>', not {value!r}")
    phrase, identifier = match.groups()
    words = _header_words(phrase, plain=_PLAIN_PHRASE.fullmatch) if phrase else []
    return _fold_words("List-Id:", [*words, f"<{identifier}>"])


def _header_words(value: str, *, plain: Callable[[str], object]) -> list[str]:
    # Plain text that merely looks like an encoded word ("=?utf-8?q?...?=") is encoded as well,
    # so that a mail client shows it literally instead of decoding it into something else.
    if plain(value) and "=?" not in value:
        return value.split(" ")
    words, chunk, size = [], "", 0
    for char in value:
        char_size = len(char.encode())
        if size + char_size > _ENCODED_WORD_BYTES:
            words.append(chunk)
            chunk, size = "", 0
        chunk += char
        size += char_size
    words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(word.encode()).decode()}?=" for word in words if word]


def _fold_words(head: str, words: list[str]) -> bytes:
    lines, line = [], head
    for word in words:
        if line != head and len(line) + 1 + len(word) > _FOLD_AT:
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    folded = "\r\n".join(lines).encode("ascii") + CRLF
    if any(len(part) > MAX_LINE_BYTES for part in folded.split(CRLF)):
        raise ValueError(f"{head} has a word too long for one header line")
    return folded


def encode_address_header(name: str, value: str) -> bytes:
    """From or Reply-To: exactly one address, its display name encoded as needed."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} may not contain line breaks: {value!r}")
    policy = email.policy.SMTP.clone(max_line_length=_FOLD_AT)
    header = policy.header_factory(name, value)
    if not isinstance(header, AddressHeader) or len(header.addresses) != 1 or header.defects:
        raise ValueError(f"{name} must be exactly one valid address: {value!r}")
    if not _ADDRESS.fullmatch(header.addresses[0].addr_spec):
        raise ValueError(f"{name} must be a plain ASCII address: {value!r}")
    return header.fold(policy=policy).encode("ascii")


def check_address(address: str) -> str:
    """The recipient's address if it is one plain ASCII address; ValueError otherwise."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address) or ".." in address:
        raise ValueError(f"not a single plain email address: {address!r}")
    return address


def _check(pattern: re.Pattern, value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS or not pattern.fullmatch(value):
        raise ValueError(f"not a safe {what}: {value!r}")
    return value


def _encode_qp(data: bytes) -> bytes:
    # b2a_qp keeps lines to 76 characters and writes "\n"; the message uses CRLF throughout.
    return binascii.b2a_qp(data, istext=True).replace(b"\n", CRLF)


def _encode_base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


class _Part:
    """One body part: encoded up to a safe cut before its first placeholder, the rest per reader."""

    def __init__(self, content_type: str, body: str, *, escape: Callable[[str], str]) -> None:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
        # b2a_qp writes CRLF line breaks itself; base64 must carry the text in canonical form.
        lf, crlf = body.encode(), body.replace("\n", "\r\n").encode()
        # Korean text is shorter in base64, English in quoted-printable (and stays readable).
        if len(_encode_qp(lf)) <= len(_encode_base64(crlf)):
            self.encoding, self.encode, data = "quoted-printable", _encode_qp, lf
        else:
            self.encoding, self.encode, data = "base64", _encode_base64, crlf
        found = [i for i in (data.find(p.encode("ascii")) for p in _PLACEHOLDERS) if i >= 0]
        first = min(found, default=len(data))
        if self.encoding == "base64":
            # Whole 57-byte groups encode to whole lines, so the tail can start a new line.
            cut = first - first % _BASE64_LINE_BYTES
        else:
            # Quoted-printable lines are independent after a hard line break.
            cut = data.rfind(b"\n", 0, first) + 1
        self.head = (
            f'Content-Type: {content_type}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {self.encoding}\r\n\r\n"
        ).encode("ascii")
        self.prefix = self.encode(data[:cut])
        # Bytes: a base64 cut may fall inside a character. Placeholders and URLs are ASCII.
        self.tail = data[cut:]
        self.escape = escape

    def body(self, links: dict[str, str]) -> bytes:
        tail = self.tail
        for placeholder, url in links.items():
            tail = tail.replace(placeholder.encode("ascii"), self.escape(url).encode("ascii"))
        return self.prefix + self.encode(tail)


_PLACEHOLDERS = (UNSUBSCRIBE_URL_PLACEHOLDER, PREFERENCES_URL_PLACEHOLDER)


class MessageTemplate:
    """A variant's message, encoded once; render() makes each reader's copy by joining bytes."""

    def __init__(self, rendered: RenderedEmail, *, from_email: str, list_id: str, reply_to: str = "") -> None:
        self.rendered = rendered
        self.from_email = from_email
        self.list_id = list_id
        self.reply_to = reply_to
        self._text = _Part("text/plain", rendered.text, escape=str)
        self._html = _Part("text/html", rendered.html, escape=lambda url: html.escape(url, quote=True))
        self.text_encoding, self.html_encoding = self._text.encoding, self._html.encoding
        digest = hashlib.sha256(rendered.text.encode() + rendered.html.encode()).hexdigest()[:32]
        # "=" never appears unescaped in quoted-printable and never in base64 lines: the
        # boundary cannot occur inside a body.
        boundary = f"==digest-{digest}=="
        self._headers = b"".join(
            [
                encode_address_header("From", from_email),
                encode_address_header("Reply-To", reply_to) if reply_to else b"",
                encode_header("Subject", rendered.subject),
                encode_list_id(list_id),
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
                b"MIME-Version: 1.0\r\n",
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode("ascii"),
            ]
        )
        self._open = f"\r\n--{boundary}\r\n".encode("ascii")
        self._close = f"\r\n--{boundary}--\r\n".encode("ascii")

    def headers(
        self,
        *,
        to: str,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
        date: datetime.datetime | None = None,
    ) -> dict[str, str]:
        """The reader's own headers, checked: To, Date, Message-ID, List-Unsubscribe."""
        check_address(to)
        _check(_MESSAGE_ID, message_id, "Message-ID")
        _check(_HTTP_URL, unsubscribe_url, "unsubscribe URL")
        _check(_MAILTO_URL, unsubscribe_mailto, "unsubscribe mailto")
        return {
            "To": to,
            "Date": format_datetime(date or timezone.now()),
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{unsubscribe_url}>, <{unsubscribe_mailto}>",
        }

    def render(
        self,
        *,
        to: str,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
        preferences_url: str,
        date: datetime.datetime | None = None,
    ) -> bytes:
        """The complete RFC 5322 message for one reader, ready for smtplib.sendmail(from, [to], data)."""
        headers = self.headers(
            to=to,
            message_id=message_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            date=date,
        )
        links = {
            UNSUBSCRIBE_URL_PLACEHOLDER: unsubscribe_url,
            PREFERENCES_URL_PLACEHOLDER: _check(_HTTP_URL, preferences_url, "preferences URL"),
        }
        return b"".join(
            [
                b"To: ",
                to.encode("ascii"),
                b"\r\nDate: ",
                headers["Date"].encode("ascii"),
                b"\r\nMessage-ID: ",
                message_id.encode("ascii"),
                # One URL per line keeps each line under 998 bytes.
                b"\r\nList-Unsubscribe: <",
                unsubscribe_url.encode("ascii"),
                b">,\r\n <",
                unsubscribe_mailto.encode("ascii"),
                b">\r\n",
                self._headers,
                b"\r\nThis is a multipart message in MIME format.\r\n",
                self._open[2:],
                self._text.head,
                self._text.body(links),
                self._open,
                self._html.head,
                self._html.body(links),
                self._close,
            ]
        )

    def as_django_message(
        self,
        *,
        to: str,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
        preferences_url: str,
        date: datetime.datetime | None = None,
        connection=None,
    ) -> EmailMultiAlternatives:
        """The same reader's message for a non-SMTP backend (django-anymail): same headers and bodies."""
        headers = self.headers(
            to=to,
            message_id=message_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            date=date,
        )
        _check(_HTTP_URL, preferences_url, "preferences URL")
        text, body_html = self.rendered.text, self.rendered.html
        for placeholder, url in (
            (UNSUBSCRIBE_URL_PLACEHOLDER, unsubscribe_url),
            (PREFERENCES_URL_PLACEHOLDER, preferences_url),
        ):
            text = text.replace(placeholder, url)
            body_html = body_html.replace(placeholder, html.escape(url, quote=True))
        message = EmailMultiAlternatives(
            subject=one_line(self.rendered.subject),
            body=text,
            from_email=self.from_email,
            to=[to],
            reply_to=[self.reply_to] if self.reply_to else None,
            headers={
                "Date": headers["Date"],
                "Message-ID": message_id,
                "List-Id": one_line(self.list_id),
                "List-Unsubscribe": headers["List-Unsubscribe"],
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            connection=connection,
        )
        message.attach_alternative(body_html, "text/html")
        return message


def build_message_template(rendered: RenderedEmail) -> MessageTemplate:
    """The variant's MessageTemplate with From and List-Id from settings."""
    return MessageTemplate(
        rendered,
        from_email=settings.DEFAULT_FROM_EMAIL,
        list_id=list_id(site_name=settings.SITE_NAME, domain=site_domain()),
    )
