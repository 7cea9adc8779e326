"""The editor's plain-text digest format: parse it into values and write it back, losslessly.

One file is one day:

    2025년 7월 10일                        date line (or ISO 2025-07-10)
    Title line
    (Author One, Author Two, Yang (Katie)Zhao)
    Abstract, one line.
    Korean commentary, one or more lines (each containing Hangul).
    English commentary, the remaining lines.
    #tag #other-tag                       closes the entry

Each commentary line is one markdown paragraph, so lines are joined with a blank line on
parse and split back into lines on format: format_digest_text(parse_digest_text(x)) == x.

This module works on text and frozen dataclasses only. It must not import models or touch
the database (newsletters/authoring/importing.py does that), so any app or command may use it.
"""

import datetime
import re
from dataclasses import dataclass, field

DATE_FORMAT_KO = "ko"
DATE_FORMAT_ISO = "iso"

_KOREAN_DATE = re.compile(r"([0-9]{4})년\s+([0-9]{1,2})월\s+([0-9]{1,2})일")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# Unicode \w covers letters (Hangul too), digits and underscores; tags may also hold dashes.
_TAG = r"#[\w-]+"
_TAG_LINE = re.compile(rf"{_TAG}(?: {_TAG})*")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")
_UTF8_BOM = b"\xef\xbb\xbf"
_EXAMPLE_TAG_LINE = "a tag line (#tag #other)"


@dataclass(frozen=True)
class ParsedEntry:
    title: str
    authors: tuple[str, ...]
    abstract: str
    commentary_ko: str
    commentary_en: str
    tags: tuple[str, ...]
    # 1-based line of the title in the file it came from; not part of the entry's value.
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ParsedDigest:
    date: datetime.date
    date_format: str  # DATE_FORMAT_KO or DATE_FORMAT_ISO: how to write the date line back
    entries: tuple[ParsedEntry, ...]


class DigestNotWritableError(ValueError):
    """An entry (edited in the admin) that the text format cannot hold without changing it."""


class DigestFormatError(ValueError):
    """A digest text that does not follow the format, pointing at the line to fix."""

    def __init__(self, message: str, *, line: int, filename: str | None = None) -> None:
        self.message = message
        self.line = line
        self.filename = filename
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.filename:
            return f"{self.filename}:{self.line}: {self.message}"
        return f"line {self.line}: {self.message}"


def contains_hangul(text: str) -> bool:
    """True when the text holds at least one Hangul character (syllable or jamo)."""
    return bool(_HANGUL.search(text))


def is_tag_line(line: str) -> bool:
    """True for a line made only of #tag tokens separated by single spaces (trailing spaces allowed)."""
    return bool(_TAG_LINE.fullmatch(line.rstrip(" \t")))


def parse_digest_bytes(data: bytes, *, filename: str | None = None) -> ParsedDigest:
    """Decode UTF-8 (a BOM is dropped) and parse; bad bytes are a DigestFormatError at their line."""
    data = data.removeprefix(_UTF8_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DigestFormatError(
            f"expected UTF-8 text, got the byte 0x{data[exc.start]:02x} that is not valid UTF-8;"
            " save the file as UTF-8",
            line=line,
            filename=filename,
        ) from exc
    return parse_digest_text(text, filename=filename)


def parse_digest_text(text: str, *, filename: str | None = None) -> ParsedDigest:
    """Parse one day's digest text; raise DigestFormatError naming the first line that is wrong."""
    return _Parser(text, filename).parse()


def format_digest_text(digest: ParsedDigest) -> str:
    """Write a digest in the text format, ending with exactly one newline."""
    lines = [_format_date(digest.date, digest.date_format)]
    for entry in digest.entries:
        _check_writable(entry)
        lines.append(entry.title)
        lines.append("(" + ", ".join(entry.authors) + ")")
        lines.append(entry.abstract)
        lines.extend(commentary_lines(entry.commentary_ko))
        lines.extend(commentary_lines(entry.commentary_en))
        lines.append(" ".join(f"#{tag}" for tag in entry.tags))
    return "\n".join(lines) + "\n"


def commentary_lines(markdown_text: str) -> list[str]:
    """The file lines of one commentary: its non-blank lines, one paragraph each."""
    return [line for line in markdown_text.replace("\r", "").split("\n") if line.strip()]


def _format_date(date: datetime.date, date_format: str) -> str:
    if date_format == DATE_FORMAT_ISO:
        return date.isoformat()
    return f"{date.year}년 {date.month}월 {date.day}일"


def _check_writable(entry: ParsedEntry) -> None:
    """Refuse entries whose text would read back differently (they can only come from the admin)."""
    problems = []
    single_lines = {"title": entry.title, "abstract": entry.abstract, "authors": ", ".join(entry.authors)}
    for name, value in single_lines.items():
        if "\n" in value or "\r" in value:
            problems.append(f"its {name} spans several lines")
    if any(", " in author for author in entry.authors) or entry.authors == ("",):
        problems.append("an author name holds ', ' (the authors separator) or is the only, empty one")
    if not entry.title.strip() or is_tag_line(entry.title):
        problems.append("its title is empty or looks like a tag line")
    if not entry.abstract.strip() or is_tag_line(entry.abstract):
        problems.append("its abstract is empty or looks like a tag line")
    if not entry.tags:
        problems.append("it has no tags")
    elif not is_tag_line(" ".join(f"#{tag}" for tag in entry.tags)):
        problems.append(f"a tag is not a single word of letters, digits, '-' or '_': {entry.tags}")
    korean, english = commentary_lines(entry.commentary_ko), commentary_lines(entry.commentary_en)
    if any(not contains_hangul(line) for line in korean):
        problems.append("a Korean commentary paragraph holds no Hangul")
    if english and contains_hangul(english[0]):
        problems.append("the first English commentary paragraph holds Hangul")
    if any(is_tag_line(line) for line in korean + english):
        problems.append("a commentary paragraph looks like a tag line")
    if problems:
        raise DigestNotWritableError(
            f"entry {entry.title!r} cannot be written as text: " + "; ".join(problems)
        )


class _Parser:
    """A single pass over the lines; each method consumes what it names or raises."""

    def __init__(self, text: str, filename: str | None) -> None:
        text = text.removeprefix("\ufeff")
        # split("\n"), not splitlines(): form feeds and U+2028 inside a line must stay in it.
        self.lines = [line.rstrip("\r") for line in text.split("\n")]
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        self.filename = filename
        self.index = 0  # 0-based index of the next line to read

    def error(self, message: str, line: int) -> DigestFormatError:
        return DigestFormatError(message, line=line, filename=self.filename)

    def parse(self) -> ParsedDigest:
        self.skip_blank_lines()
        if self.at_end():
            raise self.error(
                "expected a date line such as '2025년 7월 10일' or '2025-07-10', got an empty file", 1
            )
        date, date_format = self.parse_date_line()
        entries = []
        self.skip_blank_lines()
        if self.at_end():
            raise self.error(
                "expected the title of the first entry after the date line, got the end of the file",
                len(self.lines),
            )
        while not self.at_end():
            entries.append(self.parse_entry())
            self.skip_blank_lines()
        return ParsedDigest(date=date, date_format=date_format, entries=tuple(entries))

    def at_end(self) -> bool:
        return self.index >= len(self.lines)

    def skip_blank_lines(self) -> None:
        while not self.at_end() and not self.lines[self.index].strip():
            self.index += 1

    def parse_date_line(self) -> tuple[datetime.date, str]:
        number = self.index + 1
        raw = self.lines[self.index].strip()
        self.index += 1
        for pattern, date_format in ((_KOREAN_DATE, DATE_FORMAT_KO), (_ISO_DATE, DATE_FORMAT_ISO)):
            match = pattern.fullmatch(raw)
            if match:
                year, month, day = (int(part) for part in match.groups())
                try:
                    return datetime.date(year, month, day), date_format
                except ValueError as exc:
                    raise self.error(f"expected a real calendar date, got {raw!r} ({exc})", number) from exc
        raise self.error(
            f"expected a date line such as '2025년 7월 10일' or '2025-07-10', got {_quote(raw)}", number
        )

    def next_entry_line(self, start: int, expected: str) -> tuple[int, str]:
        """The next line of the entry starting at `start`: never blank, never past the end."""
        if self.at_end():
            raise self.error(
                f"expected {expected} in the entry that starts on line {start}, got the end of the file",
                len(self.lines),
            )
        number, line = self.index + 1, self.lines[self.index]
        if not line.strip():
            raise self.error(
                f"expected {expected} in the entry that starts on line {start}, got a blank line"
                " (blank lines may only separate entries)",
                number,
            )
        self.index += 1
        return number, line

    def parse_entry(self) -> ParsedEntry:
        start, title = self.index + 1, self.lines[self.index]
        self.index += 1
        if is_tag_line(title):
            raise self.error(
                f"expected the title of an entry, got the tag line {_quote(title)}"
                " (an entry has exactly one tag line, at its end)",
                start,
            )

        number, authors_line = self.next_entry_line(start, "the authors line in parentheses after the title")
        if not (authors_line.startswith("(") and authors_line.endswith(")")):
            raise self.error(
                f"expected the authors line in parentheses after the title, got {_quote(authors_line)}",
                number,
            )
        inside = authors_line[1:-1]
        authors = tuple(inside.split(", ")) if inside else ()

        number, abstract = self.next_entry_line(start, "a one-line abstract after the authors line")
        if is_tag_line(abstract):
            raise self.error(
                f"expected a one-line abstract after the authors line, got the tag line {_quote(abstract)}",
                number,
            )

        korean: list[str] = []
        english: list[str] = []
        while True:
            if self.at_end():
                raise self.error(
                    f"expected {_EXAMPLE_TAG_LINE} to close the entry that starts on line {start},"
                    " got the end of the file",
                    len(self.lines),
                )
            number, line = self.index + 1, self.lines[self.index]
            if not line.strip():
                raise self.error(
                    f"expected {_EXAMPLE_TAG_LINE} to close the entry that starts on line {start},"
                    " got a blank line (blank lines may only separate entries)",
                    number,
                )
            self.index += 1
            if is_tag_line(line):
                tags = tuple(token[1:] for token in line.split())
                repeated = [tag for position, tag in enumerate(tags) if tag in tags[:position]]
                if repeated:
                    raise self.error(
                        f"expected each tag once on the tag line, got #{repeated[0]} twice", number
                    )
                break
            # Korean commentary is the run of Hangul lines right after the abstract; everything
            # after it is English, even a later line that quotes a Korean word.
            (korean if contains_hangul(line) and not english else english).append(line)

        return ParsedEntry(
            title=title,
            authors=authors,
            abstract=abstract,
            commentary_ko="\n\n".join(korean),
            commentary_en="\n\n".join(english),
            tags=tags,
            line=start,
        )


def _quote(line: str, limit: int = 80) -> str:
    """The start of a line, quoted, short enough for an error message."""
    shown = line if len(line) <= limit else line[: limit - 1] + "…"
    return repr(shown)
