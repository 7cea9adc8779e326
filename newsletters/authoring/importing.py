"""Digest text <-> database: import a day's text into Digest/Entry rows, and export it back.

textformat.py does the parsing and writing; this module maps its values onto rows. An import
is planned first (plan_digest_import: parsed, compared with the day, nothing written) and then
applied (apply_digest_import executes exactly that plan, in one transaction, refusing if the
day changed since): the preview the editor confirms is the plan that runs. It updates the day
in place (entries matched by title, then authors), so re-importing never duplicates; it never
deletes an entry readers received (permalinks withdraws it), and it must not change a
scheduled or sent day unless forced.
"""

import contextlib
import functools
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from django.db import IntegrityError, transaction

from newsletters.authoring import history, permalinks
from newsletters.authoring.repeats import find_earlier_appearances
from newsletters.authoring.textformat import (
    DigestFormatError,
    ParsedDigest,
    ParsedEntry,
    format_digest_text,
    normalise_title,
    parse_digest_bytes,
    parse_digest_text,
)
from newsletters.models import (
    ABSTRACT_MAX_CHARS,
    AUTHOR_MAX_CHARS,
    COMMENTARY_MAX_CHARS,
    IMPORT_MAX_BYTES,
    MAX_AUTHORS,
    TITLE_MAX_CHARS,
    Digest,
    Entry,
    Tag,
)


class DigestLockedError(ValueError):
    """The digest is being sent: its entries are what the delivery ledger points at."""


class DigestProtectedError(ValueError):
    """The day is scheduled or was sent: readers have it, so changing it needs an explicit force."""


class DigestFileError(ValueError):
    """A path that is not a digest text file to read: not a regular file, or too large."""


class StaleImportError(ValueError):
    """The day changed since its import was planned (another editor saved): plan again."""


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str
    new: str


@dataclass
class PlannedEntry:
    """One line of the plan: what the import does to one entry."""

    action: str  # one of ACTIONS
    title: str
    position: int | None = None
    entry: Entry | None = None
    parsed: ParsedEntry | None = None
    changes: tuple[FieldChange, ...] = ()


ACTIONS = ("create", "update", "unchanged", "remove", "withdraw")


@dataclass
class ImportPlan:
    """Everything an import will do, computed without writing; applying executes exactly this."""

    parsed: ParsedDigest
    digest: Digest | None
    entries: list[PlannedEntry]
    fingerprint: str  # of the day as read and of the text: confirm only what was previewed

    def count(self, *actions: str) -> int:
        return sum(1 for planned in self.entries if planned.action in actions)

    @property
    def count_created(self) -> int:
        return self.count("create")

    @property
    def count_updated(self) -> int:
        return self.count("update")

    @property
    def count_removed(self) -> int:
        return self.count("remove", "withdraw")

    @property
    def count_unchanged(self) -> int:
        return self.count("unchanged")

    def check_not_sending(self) -> None:
        """Refuse a day being sent or paused mid-send: its emails are already rendered and queued."""
        if self.digest is not None and self.digest.status in (Digest.Status.SENDING, Digest.Status.PAUSED):
            day, status = self.digest.date.isoformat(), self.digest.status
            raise DigestLockedError(
                f"digest {day} is {status}: its emails are already rendered; let the send finish"
                " (resume it if paused), then import"
            )

    def needs_confirmation(self) -> bool:
        """Any import over an existing day is previewed first; a brand-new day may go in directly."""
        return self.digest is not None

    def is_protected(self) -> bool:
        return self.digest is not None and self.digest.is_protected()

    def earlier_appearances(self) -> list[list[Entry]]:
        """For each planned entry, the entries of earlier days with its title or arXiv id."""
        return [
            []
            if planned.action in ("remove", "withdraw")
            else find_earlier_appearances(
                title=planned.title,
                arxiv_id=planned.entry.arxiv_id if planned.entry else "",
                before=self.parsed.date,
                exclude_pk=planned.entry.pk if planned.entry else None,
            )
            for planned in self.entries
        ]

    def lines(self) -> list[str]:
        """The plan for a terminal: one line per entry, the old and new text of each change, repeats."""
        labels = {
            "create": "+ create",
            "update": "~ update",
            "unchanged": "= unchanged",
            "remove": "- delete",
            "withdraw": "- withdraw (readers received it; its page will answer 410 Gone)",
        }
        lines = []
        if self.is_protected():
            lines.append(
                f"  ! digest {self.parsed.date.isoformat()} is {self.digest.status}: applying needs --force"
            )
        for planned, earlier in zip(self.entries, self.earlier_appearances(), strict=True):
            where = f"#{planned.position} " if planned.position else ""
            lines.append(f"  {labels[planned.action]} {where}{planned.title}")
            for change in planned.changes:
                lines.append(f"      {change.name}:")
                lines.extend(f"        - {line}" for line in change.old.splitlines() or [""])
                lines.extend(f"        + {line}" for line in change.new.splitlines() or [""])
            if earlier:
                days = ", ".join(other.digest.date.isoformat() for other in earlier)
                lines.append(f"      ! already featured on {days}")
        return lines


@dataclass
class ImportResult:
    digest: Digest
    created: bool
    entries_created: int = 0
    entries_updated: int = 0
    entries_removed: int = 0
    entries_unchanged: int = 0
    dry_run: bool = False
    plan: ImportPlan | None = None

    @classmethod
    def of_plan(cls, plan: ImportPlan, *, digest: Digest, dry_run: bool = False) -> "ImportResult":
        return cls(
            digest=digest,
            created=plan.digest is None,
            entries_created=plan.count("create"),
            entries_updated=plan.count("update"),
            entries_removed=plan.count("remove", "withdraw"),
            entries_unchanged=plan.count("unchanged"),
            dry_run=dry_run,
            plan=plan,
        )

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
    text: str | bytes,
    *,
    filename: str | None = None,
    user=None,
    dry_run: bool = False,
    force: bool = False,
) -> ImportResult:
    """Create or update the digest of the text's day so that its entries are exactly the file's.

    A scheduled or sent day is changed only with force=True; a dry run stores nothing.
    """
    parsed = _parse(text, filename=filename)
    if dry_run:
        plan = _plan(parsed, digest=Digest.objects.filter(date=parsed.date).first())
        digest = plan.digest or Digest(date=parsed.date, date_format=parsed.date_format)
        return ImportResult.of_plan(plan, digest=digest, dry_run=True)
    with transaction.atomic():
        digest = Digest.objects.select_for_update().filter(date=parsed.date).first()
        return _apply_locked(_plan(parsed, digest=digest), user=user, force=force, filename=filename)


def read_digest_file(path: str | os.PathLike) -> bytes:
    """A day's text file; DigestFileError unless it is a regular file of at most IMPORT_MAX_BYTES.

    Reads at most one byte past the limit, so /dev/zero or a huge file costs nothing.
    """
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer. The type is checked on the
    # open descriptor, not the name, so the file cannot be swapped between check and read.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise DigestFileError("not a regular file (a device, a pipe or a directory); give a text file")
        chunks, size = [], 0
        while size <= IMPORT_MAX_BYTES and (chunk := os.read(descriptor, IMPORT_MAX_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > IMPORT_MAX_BYTES:
        raise DigestFileError(
            f"larger than {IMPORT_MAX_BYTES:,} bytes; a day's digest is much smaller"
            " (is this the right file?)"
        )
    return data


def plan_digest_import(text: str | bytes, *, filename: str | None = None) -> ImportPlan:
    """Parse the text and work out what importing it would do to its day, writing nothing."""
    parsed = _parse(text, filename=filename)
    return _plan(parsed, digest=Digest.objects.filter(date=parsed.date).first())


def apply_digest_import(plan: ImportPlan, *, user=None, force: bool = False) -> ImportResult:
    """Execute the plan, all or nothing, if the day is still as it was when planned.

    Raises StaleImportError when another editor changed the day since: plan (and preview) again.
    """
    with transaction.atomic():
        digest = Digest.objects.select_for_update().filter(date=plan.parsed.date).first()
        if _plan(plan.parsed, digest=digest).fingerprint != plan.fingerprint:
            raise StaleImportError(
                f"digest {plan.parsed.date.isoformat()} changed since these changes were previewed;"
                " check the new preview"
            )
        return _apply_locked(plan, user=user, force=force)


def _parse(text: str | bytes, *, filename: str | None) -> ParsedDigest:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", errors="surrogatepass"))
    if size > IMPORT_MAX_BYTES:
        raise DigestFormatError(
            f"expected a day of at most {IMPORT_MAX_BYTES:,} bytes, got {size:,}; a day's digest is much"
            " smaller (is this the right file?)",
            line=1,
            filename=filename,
        )
    if isinstance(text, bytes):
        parsed = parse_digest_bytes(text, filename=filename)
    else:
        parsed = parse_digest_text(text, filename=filename)
    _check_fits_columns(parsed, filename=filename)
    return parsed


def _apply_locked(plan: ImportPlan, *, user, force: bool, filename: str | None = None) -> ImportResult:
    """Execute the plan; the caller holds the day's row lock and has checked the plan is current."""
    parsed, digest = plan.parsed, plan.digest
    plan.check_not_sending()
    if plan.is_protected() and not force:
        raise DigestProtectedError(
            f"digest {digest.date.isoformat()} is {digest.status}: readers have it, so an import"
            " changes it only when forced, after a look at the changes (--dry-run)"
        )
    # Every entry the import changes keeps its previous version (history.py); an import that
    # changes nothing records nothing (and costs no queries for it).
    changes = plan.count("create", "update", "remove", "withdraw")
    recording = history.recorded_import if changes else _nothing_to_record
    with recording(date=parsed.date, user=user, filename=filename):
        if digest is None:
            try:
                with transaction.atomic():
                    digest = Digest.objects.create(date=parsed.date, date_format=parsed.date_format)
            except IntegrityError as exc:  # another import created the day a moment ago
                raise StaleImportError(
                    f"digest {parsed.date.isoformat()} was just created; preview it"
                ) from exc
        elif digest.date_format != parsed.date_format:
            digest.date_format = parsed.date_format
            digest.save(update_fields=["date_format", "updated_at"])
        _execute(plan, digest=digest, user=user)
    return ImportResult.of_plan(plan, digest=digest)


@contextlib.contextmanager
def _nothing_to_record(**kwargs) -> Iterator[None]:
    yield


def _plan(parsed: ParsedDigest, *, digest: Digest | None) -> ImportPlan:
    existing = []
    if digest is not None:
        # Live entries first, so a withdrawn namesake is matched only when no live one is.
        existing = sorted(
            digest.entries.prefetch_related("entry_tags__tag"),
            key=lambda entry: (entry.withdrawn_at is not None, entry.position, entry.pk),
        )
    received = digest is not None and digest.was_received()
    matches = _match(parsed.entries, existing)
    planned = []
    for position, parsed_entry in enumerate(parsed.entries, start=1):
        entry = matches.get(position)
        if entry is None:
            planned.append(PlannedEntry("create", parsed_entry.title, position, parsed=parsed_entry))
            continue
        changes = _changes(parsed_entry, entry, position)
        action = "update" if changes else "unchanged"
        planned.append(PlannedEntry(action, parsed_entry.title, position, entry, parsed_entry, changes))
    kept = {entry.pk for entry in matches.values()}
    gone = [entry for entry in existing if entry.pk not in kept and entry.withdrawn_at is None]
    if gone:
        removal = "withdraw" if received else "remove"
        planned.extend(PlannedEntry(removal, entry.title, entry=entry) for entry in gone)
    return ImportPlan(parsed, digest, planned, _fingerprint(parsed, digest, existing, received))


def _execute(plan: ImportPlan, *, digest: Digest, user) -> None:
    for planned in plan.entries:
        if planned.action == "create":
            entry = Entry(digest=digest, created_by=user)
            _copy_fields(planned.parsed, entry, planned.position)
            entry.save()
            entry.set_tags(list(planned.parsed.tags))
        elif planned.action == "update":
            entry, old_title = planned.entry, planned.entry.title
            names = {change.name for change in planned.changes}
            fields = _copy_fields(planned.parsed, entry, planned.position)
            if "withdrawn" in names:
                entry.withdrawn_at = None
                fields.append("withdrawn_at")
            if fields:
                entry.save(update_fields=[*fields, "updated_at"])
            if "tags" in names:
                entry.set_tags(list(planned.parsed.tags))
            permalinks.keep_old_keys(entry=entry, old_title=old_title)
    removed = [planned.entry for planned in plan.entries if planned.action in ("remove", "withdraw")]
    if removed:
        permalinks.remove_entries(entries=removed)


def _changes(parsed_entry: ParsedEntry, entry: Entry, position: int) -> tuple[FieldChange, ...]:
    """What the file changes in the entry, as text the editor can read (old, new)."""
    old = {**_text_fields(entry), "tags": " ".join(f"#{tag.slug}" for tag in entry.ordered_tags())}
    new = {
        "title": parsed_entry.title,
        "authors": ", ".join(parsed_entry.authors),
        "abstract": parsed_entry.abstract,
        "commentary_ko": parsed_entry.commentary_ko,
        "commentary_en": parsed_entry.commentary_en,
        "tags": " ".join(f"#{tag}" for tag in dict.fromkeys(parsed_entry.tags)),
        "position": str(position),
    }
    changes = [FieldChange(name, old[name], new[name]) for name in new if old[name] != new[name]]
    if entry.withdrawn_at is not None:
        changes.append(FieldChange("withdrawn", "withdrawn", "published again"))
    return tuple(changes)


def _text_fields(entry: Entry) -> dict[str, str]:
    return {
        "title": entry.title,
        "authors": ", ".join(entry.authors),
        "abstract": entry.abstract,
        "commentary_ko": entry.commentary_ko,
        "commentary_en": entry.commentary_en,
        "position": str(entry.position),
    }


def _fingerprint(parsed: ParsedDigest, digest: Digest | None, existing: list[Entry], received: bool) -> str:
    """A hash of the day as stored (every field an import reads) and of the parsed text."""
    day = None
    if digest is not None:
        day = [digest.pk, digest.status, digest.date_format, str(digest.updated_at), received]
    rows = [
        [
            entry.pk,
            _text_fields(entry),
            entry.authors,
            [tag.slug for tag in entry.ordered_tags()],
            entry.status,
            str(entry.withdrawn_at),
            str(entry.updated_at),
        ]
        for entry in existing
    ]
    text = [
        parsed.date.isoformat(),
        parsed.date_format,
        [(e.title, e.authors, e.abstract, e.commentary_ko, e.commentary_en, e.tags) for e in parsed.entries],
    ]
    payload = json.dumps([day, rows, text], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def export_digest_text(digest: Digest) -> str:
    """The digest's entries (by position, tags in the editor's order) in the text format."""
    entries = digest.ordered_entries().filter(withdrawn_at__isnull=True).prefetch_related("entry_tags__tag")
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


def _match(parsed_entries: tuple[ParsedEntry, ...], existing: list[Entry]) -> dict[int, Entry]:
    """Map 1-based file positions to existing entries: exact titles, then loose ones, then authors.

    The last pass lets a corrected title update its entry (keeping its history and old link)
    instead of removing it and creating another; it only pairs an author list found once on
    each side.
    """
    matches = _match_by_title(parsed_entries, existing)
    unclaimed = [entry for entry in existing if entry not in matches.values()]
    open_positions = [p for p in range(1, len(parsed_entries) + 1) if p not in matches]
    for position in open_positions:
        authors = list(parsed_entries[position - 1].authors)
        if not authors:
            continue
        same_file = [p for p in open_positions if list(parsed_entries[p - 1].authors) == authors]
        same_day = [entry for entry in unclaimed if entry.authors == authors]
        if len(same_file) == 1 and len(same_day) == 1:
            matches[position] = same_day[0]
            unclaimed.remove(same_day[0])
    return matches


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
    """Refuse text longer than its limit (models.py) before writing: nothing of the day is stored."""
    slug_max = Tag._meta.get_field("slug").max_length
    for entry in parsed.entries:
        refuse = functools.partial(_refuse, entry=entry, filename=filename)
        if len(entry.title) > TITLE_MAX_CHARS:
            refuse(f"expected a title of at most {TITLE_MAX_CHARS} characters, got {len(entry.title)}", 0)
        if len(entry.authors) > MAX_AUTHORS:
            refuse(f"expected at most {MAX_AUTHORS} authors, got {len(entry.authors)}", 1)
        long_names = [name for name in entry.authors if len(name) > AUTHOR_MAX_CHARS]
        if long_names:
            refuse(
                f"author name longer than {AUTHOR_MAX_CHARS} characters ({len(long_names[0])}):"
                f" {long_names[0][:40]!r}…; are the names separated by ', '?",
                1,
            )
        if len(entry.abstract) > ABSTRACT_MAX_CHARS:
            refuse(f"abstract longer than {ABSTRACT_MAX_CHARS} characters (it has {len(entry.abstract)})", 2)
        korean_lines = entry.commentary_ko.count("\n\n") + 1
        for language, text, offset in (
            ("Korean", entry.commentary_ko, 3),
            ("English", entry.commentary_en, 3 + korean_lines),
        ):
            # The file's lines are joined with a blank line; count what the reader gets.
            if len(text) > COMMENTARY_MAX_CHARS:
                refuse(
                    f"{language} commentary longer than {COMMENTARY_MAX_CHARS} characters"
                    f" (it has {len(text)}, from this line on)",
                    offset,
                )
        too_long = [tag for tag in entry.tags if len(tag) > slug_max]
        if too_long:
            refuse(
                f"expected tags of at most {slug_max} characters in the entry that starts on this line,"
                f" got #{too_long[0]}",
                0,
            )


def _refuse(message: str, offset: int, *, entry: ParsedEntry, filename: str | None) -> NoReturn:
    """Raise the error at the line of the part at fault, `offset` lines below the entry's title."""
    raise DigestFormatError(message, line=entry.line + offset, filename=filename)
