"""Write one day's digest in the text format, to edit it offline or keep it under version control."""

import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from newsletters.authoring.importing import export_digest_text
from newsletters.authoring.textformat import DigestNotWritableError
from newsletters.models import Digest


class Command(BaseCommand):
    help = "Export the digest of a day (YYYY-MM-DD) as text, to stdout or --output FILE."

    def add_arguments(self, parser) -> None:
        parser.add_argument("date", metavar="YYYY-MM-DD")
        parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")

    def handle(self, *args, date: str, output: str | None, **options) -> None:
        try:
            day = datetime.date.fromisoformat(date)
        except ValueError as exc:
            raise CommandError(f"expected a date as YYYY-MM-DD, got {date!r}") from exc
        digest = Digest.objects.filter(date=day).first()
        if digest is None:
            raise CommandError(f"there is no digest for {day.isoformat()}")
        try:
            text = export_digest_text(digest)
        except DigestNotWritableError as exc:
            raise CommandError(str(exc)) from exc
        if output:
            Path(output).write_text(text, encoding="utf-8", newline="\n")
            self.stdout.write(f"Wrote digest {day.isoformat()} to {output}")
        else:
            self.stdout.write(text, ending="")
