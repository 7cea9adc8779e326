"""Measure what a digest's email costs: one variant render, then each reader's message.

Why: delivery renders each variant once and builds every reader's message from a
MessageTemplate by substitution; this shows the two costs side by side with the alternatives
it avoids (re-encoding whole bodies per reader, an EmailMultiAlternatives per reader).
"""

import base64
import binascii
import json
import time

from django.core.management.base import BaseCommand, CommandError

from digest_site.mailname import mail_domain
from newsletters.mail.content import email_entries_for, render_variant
from newsletters.mail.messages import build_message_template, make_message_id
from newsletters.mail.rendering import PREFERENCES_URL_PLACEHOLDER, UNSUBSCRIBE_URL_PLACEHOLDER
from newsletters.models import Digest


def reader_fields(n: int) -> dict:
    """Made-up links as long as real signed ones."""
    token = f"{n:08d}:" + "x" * 86
    return {
        "to": f"reader{n}@example.org",
        "message_id": make_message_id(digest_id=1, subscriber_id=n, domain=mail_domain()),
        "unsubscribe_url": f"https://digest.example.com/unsubscribe/{token}/",
        "unsubscribe_mailto": f"mailto:unsubscribe+{token}@digest.example.com",
        "preferences_url": f"https://digest.example.com/preferences/{token}/",
    }


def microseconds_per_call(function, calls: int) -> float:
    start = time.perf_counter()
    for n in range(calls):
        function(n)
    return round((time.perf_counter() - start) / calls * 1e6, 1)


class Command(BaseCommand):
    help = "Print one JSON line: a digest variant's render time and each reader's message build time."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", help="the digest's day (YYYY-MM-DD); the latest digest by default")
        parser.add_argument("--language", choices=["ko", "en", "both"], default="both")
        parser.add_argument("--readers", type=int, default=2000, help="messages to build per measurement")

    def handle(self, *args, date: str | None, language: str, readers: int, **options) -> None:
        digest = (
            Digest.objects.filter(date=date).first() if date else Digest.objects.order_by("-date").first()
        )
        if digest is None:
            raise CommandError("no digest to measure: import one first (manage.py import_digest FILE)")
        entries = email_entries_for(digest)

        start = time.perf_counter()
        rendered = render_variant(
            digest=digest, entry_ids=list(entries), language=language, email_entries=entries
        )
        render_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        template = build_message_template(rendered)
        template_ms = (time.perf_counter() - start) * 1000

        def whole_bodies(n: int) -> None:
            # The alternative to pre-encoded prefixes: substitute, then encode each whole body.
            fields = reader_fields(n)
            for body, encoding in (
                (rendered.text, template.text_encoding),
                (rendered.html, template.html_encoding),
            ):
                body = body.replace(UNSUBSCRIBE_URL_PLACEHOLDER, fields["unsubscribe_url"])
                data = body.replace(PREFERENCES_URL_PLACEHOLDER, fields["preferences_url"]).encode()
                if encoding == "base64":
                    base64.encodebytes(data)
                else:
                    binascii.b2a_qp(data, istext=True)

        message = template.render(**reader_fields(0))
        result = {
            "digest": digest.date.isoformat(),
            "language": language,
            "entries": len(entries),
            "variant_render_ms": round(render_ms, 1),
            "template_build_ms": round(template_ms, 1),
            "per_reader_render_us": microseconds_per_call(
                lambda n: template.render(**reader_fields(n)), readers
            ),
            "per_reader_whole_body_encode_us": microseconds_per_call(whole_bodies, max(readers // 10, 1)),
            "per_reader_django_message_us": microseconds_per_call(
                lambda n: template.as_django_message(**reader_fields(n)).message().as_bytes(),
                max(readers // 20, 1),
            ),
            "html_bytes": len(rendered.html.encode()),
            "text_bytes": len(rendered.text.encode()),
            "message_bytes": len(message),
            "encodings": [template.text_encoding, template.html_encoding],
        }
        self.stdout.write(json.dumps(result))
