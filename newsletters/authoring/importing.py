"""Digest text <-> database: import a day's text into Digest/Entry rows, and export it back.

textformat.py does the parsing and writing; this module maps its values onto rows. An import
is all or nothing (one transaction, parsed before the first write) and updates the day in
place: entries are matched by title, so re-importing a corrected file never duplicates.
"""

from dataclasses import dataclass

from django.db import transaction

from newsletters.authoring.textformat import (
    DigestFormatError,
    ParsedDigest,
    ParsedEntry,
    format_digest_text,
    normalise_title,
    parse_digest_bytes,
    parse_digest_text,
)
from newsletters.models import Digest, Entry, Tag


class DigestLockedError(ValueError):
    """The digest is being sent: its entries are what the delivery ledger points at."""


@dataclass
class ImportResult:
    digest: Digest
    created: bool
    entries_created: int = 0
    entries_updated: int = 0
    entries_removed: int = 0
    entries_unchanged: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the editor: what the import did (or, in a dry run, would do)."""
        date = self.digest.date.isoformat()
        prefix = "Would create" if self.dry_run else "Created"
        if self.created:
            return f"{prefix} digest {date} ({self.entries_created} entries)"
        prefix = "Would update" if self.dry_run else "Updated"
        return (
            f"{prefix} digest {date} ({self.entries_created} created, {self.entries_updated} updated,"
            f" {self.entries_removed} removed)"
        )


def import_digest_text(
    text: str | bytes, *, filename: str | None = None, user=None, dry_run: bool = False
) -> ImportResult:
    """Create or update the digest of the text's day so that its entries are exactly the file's."""
    if isinstance(text, bytes):
        parsed = parse_digest_bytes(text, filename=filename)
    else:
        parsed = parse_digest_text(text, filename=filename)
    _check_fits_columns(parsed, filename=filename)

    with transaction.atomic():
        digest, created = Digest.objects.select_for_update().get_or_create(
            date=parsed.date, defaults={"date_format": parsed.date_format}
        )
        if digest.status == Digest.Status.SENDING:
            raise DigestLockedError(
                f"digest {digest.date.isoformat()} is being sent; wait until sending finishes, then import"
            )
        if digest.date_format != parsed.date_format:
            digest.date_format = parsed.date_format
            digest.save(update_fields=["date_format", "updated_at"])

        result = ImportResult(digest=digest, created=created, dry_run=dry_run)
        existing = list(digest.entries.prefetch_related("entry_tags__tag"))
        matches = _match_by_title(parsed.entries, existing)
        for position, parsed_entry in enumerate(parsed.entries, start=1):
            entry = matches.get(position)
            if entry is None:
                entry = Entry(digest=digest, created_by=user)
                _copy_fields(parsed_entry, entry, position)
                entry.save()
                entry.set_tags(list(parsed_entry.tags))
                result.entries_created += 1
                continue
            fields_changed = _copy_fields(parsed_entry, entry, position)
            if fields_changed:
                entry.save(update_fields=[*fields_changed, "updated_at"])
            tags_changed = [tag.slug for tag in entry.ordered_tags()] != list(
                dict.fromkeys(parsed_entry.tags)
            )
            if tags_changed:
                entry.set_tags(list(parsed_entry.tags))
            if fields_changed or tags_changed:
                result.entries_updated += 1
            else:
                result.entries_unchanged += 1

        kept = {entry.pk for entry in matches.values()}
        removed = [entry.pk for entry in existing if entry.pk not in kept]
        if removed:
            Entry.objects.filter(pk__in=removed).delete()
        result.entries_removed = len(removed)

        if dry_run:
            transaction.set_rollback(True)
    return result


def export_digest_text(digest: Digest) -> str:
    """The digest's entries (by position, tags in the editor's order) in the text format."""
    entries = digest.entries.order_by("position", "pk").prefetch_related("entry_tags__tag")
    parsed = ParsedDigest(
        date=digest.date,
        date_format=digest.date_format,
        entries=tuple(
            ParsedEntry(
                title=entry.title,
                authors=tuple(entry.authors),
                abstract=entry.abstract,
                commentary_ko=entry.commentary_ko,
                commentary_en=entry.commentary_en,
                tags=tuple(tag.slug for tag in entry.ordered_tags()),
            )
            for entry in entries
        ),
    )
    return format_digest_text(parsed)


def _match_by_title(parsed_entries: tuple[ParsedEntry, ...], existing: list[Entry]) -> dict[int, Entry]:
    """Map 1-based file positions to existing entries: exact titles first, then loose ones."""
    unclaimed = list(existing)
    matches: dict[int, Entry] = {}
    for same in (lambda a, b: a == b, lambda a, b: normalise_title(a) == normalise_title(b)):
        for position, parsed_entry in enumerate(parsed_entries, start=1):
            if position in matches:
                continue
            for entry in unclaimed:
                if same(entry.title, parsed_entry.title):
                    matches[position] = entry
                    unclaimed.remove(entry)
                    break
    return matches


def _copy_fields(parsed_entry: ParsedEntry, entry: Entry, position: int) -> list[str]:
    """Set the entry's text fields and position from the file; return the names that changed."""
    values = {
        "title": parsed_entry.title,
        "authors": list(parsed_entry.authors),
        "abstract": parsed_entry.abstract,
        "commentary_ko": parsed_entry.commentary_ko,
        "commentary_en": parsed_entry.commentary_en,
        "position": position,
    }
    changed = [name for name, value in values.items() if getattr(entry, name) != value]
    for name in changed:
        setattr(entry, name, values[name])
    return changed


def _check_fits_columns(parsed: ParsedDigest, *, filename: str | None) -> None:
    """Refuse titles and tags longer than their columns before writing (PostgreSQL would fail mid-way)."""
    title_max = Entry._meta.get_field("title").max_length
    slug_max = Tag._meta.get_field("slug").max_length
    for entry in parsed.entries:
        if len(entry.title) > title_max:
            raise DigestFormatError(
                f"expected a title of at most {title_max} characters, got {len(entry.title)}",
                line=entry.line,
                filename=filename,
            )
        too_long = [tag for tag in entry.tags if len(tag) > slug_max]
        if too_long:
            raise DigestFormatError(
                f"expected tags of at most {slug_max} characters in the entry that starts on this line,"
                f" got #{too_long[0]}",
                line=entry.line,
                filename=filename,
            )
