"""Subscriber lists as CSV: import (email, language, tags) with a report, and export.

An import is all or nothing: every row is checked first, and if any is rejected nothing is
written and the report names each rejected row and why. Rows for the same address are merged
(tags joined; differing languages become "both"). Addresses already known are left exactly
as they are: an import never changes a reader's choices, and never brings back anyone who
unsubscribed, bounced or complained. New addresses are imported as active readers.
"""

import csv
import datetime
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from newsletters.models import Tag

from .models import Subscriber, SubscriberEvent, normalise_email

LANGUAGES = set(Subscriber.Language.values)
TAG_SEPARATORS = re.compile(r"[\s,;]+")
EXPORT_COLUMNS = ["email", "language", "tags", "state", "created_at", "confirmed_at"]
# Spreadsheets run cells starting with these as formulas; exports prefix them with an apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@")


@dataclass
class ImportRow:
    line: int
    email: str
    language: str
    tags: set[str]


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def imported(self) -> bool:
        return not self.rejected


def _cells(row: dict, name: str) -> str:
    return (row.get(name) or "").strip()


def check_row(line: int, row: dict, known_tags: set[str]) -> tuple[ImportRow | None, str]:
    """One CSV row as an ImportRow, or None and the reason it is rejected."""
    raw_email = _cells(row, "email").removeprefix("'")
    if not raw_email:
        return None, f"line {line}: no email address"
    try:
        email = normalise_email(raw_email)
    except ValidationError:
        return None, f"line {line}: {raw_email!r} is not a valid email address"
    language = _cells(row, "language").lower() or Subscriber.Language.BOTH
    if language not in LANGUAGES:
        return None, f"line {line}: unknown language {language!r} (use ko, en or both)"
    tags = {slug.lstrip("#") for slug in TAG_SEPARATORS.split(_cells(row, "tags")) if slug.lstrip("#")}
    unknown = sorted(tags - known_tags)
    if unknown:
        return None, f"line {line}: unknown tag(s) {', '.join(unknown)}"
    return ImportRow(line, email, language, tags), ""


def read_rows(text: str, report: ImportReport) -> dict[str, ImportRow]:
    """Check every row, merging rows for the same address; rejected rows go to the report."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    reader.fieldnames = [name.strip().lower() for name in (reader.fieldnames or [])]
    if "email" not in reader.fieldnames:
        report.rejected.append("line 1: the first line must name the columns: email,language,tags")
        return {}
    known_tags = set(Tag.objects.values_list("slug", flat=True))
    rows: dict[str, ImportRow] = {}
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        checked, reason = check_row(line, row, known_tags)
        if checked is None:
            report.rejected.append(reason)
            continue
        first = rows.get(checked.email)
        if first is None:
            rows[checked.email] = checked
            continue
        first.tags |= checked.tags
        if first.language != checked.language:
            first.language = Subscriber.Language.BOTH
        report.merged.append(f"line {line}: {checked.email} merged into line {first.line}")
    return rows


def import_subscribers(text: str, *, source: str = "csv-import") -> ImportReport:
    """Import a CSV of email,language,tags; all or nothing (see the module docstring)."""
    report = ImportReport()
    rows = read_rows(text, report)
    if report.rejected:
        return report
    existing = set(Subscriber.objects.filter(email__in=rows).values_list("email", flat=True))
    report.unchanged = sorted(existing)
    new_rows = [row for email, row in rows.items() if email not in existing]
    now = timezone.now()
    try:
        created = _create(new_rows, now=now, source=source)
    except IntegrityError:
        # Someone subscribed one of these addresses while we were checking: nothing was written.
        report.rejected.append("an address in the file subscribed during the import; upload the file again")
        report.unchanged = []
        return report
    report.created = [subscriber.email for subscriber in created]
    return report


def _create(new_rows: list[ImportRow], *, now: datetime.datetime, source: str) -> list[Subscriber]:
    with transaction.atomic():
        created = Subscriber.objects.bulk_create(
            (
                Subscriber(
                    email=row.email,
                    language=row.language,
                    state=Subscriber.Status.ACTIVE,
                    created_at=now,
                    state_changed_at=now,
                    confirmed_at=now,
                )
                for row in new_rows
            ),
            batch_size=500,
        )
        by_email = {s.email: s for s in Subscriber.objects.filter(email__in=[row.email for row in new_rows])}
        tags = {tag.slug: tag for tag in Tag.objects.all()}
        SubscriberEvent.objects.bulk_create(
            (
                SubscriberEvent(subscriber=by_email[row.email], at=now, to_state="active", source=source)
                for row in new_rows
            ),
            batch_size=500,
        )
        Subscriber.tags.through.objects.bulk_create(
            (
                Subscriber.tags.through(subscriber=by_email[row.email], tag=tags[slug])
                for row in new_rows
                for slug in sorted(row.tags)
            ),
            batch_size=500,
        )
    return created


def _spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_rows(subscribers: Iterable[Subscriber]) -> Iterable[list[str]]:
    """The header, then one row per subscriber (tags space-separated, no tags meaning all)."""
    yield EXPORT_COLUMNS
    for subscriber in subscribers:
        yield [
            _spreadsheet_safe(subscriber.email),
            subscriber.language,
            " ".join(sorted(tag.slug for tag in subscriber.tags.all())),
            subscriber.state,
            subscriber.created_at.isoformat(),
            subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else "",
        ]


def export_subscribers(subscribers: Iterable[Subscriber], out: io.TextIOBase) -> None:
    """Write subscribers as CSV to out."""
    csv.writer(out).writerows(export_rows(subscribers))
