"""The editor's plain-text digest format: parse it into values and write it back, losslessly.

One file is one day:

    2025년 7월 10일                        date line (or ISO 2025-07-10)
    Title line
    (Author One, Author Two, Yang (Katie)Zhao)
    Abstract, one line.
    Korean commentary, one or more lines (each containing Hangul).
    English commentary, one or more lines (the first without Hangul).
    #tag #other-tag                       closes the entry

Every part is required, so a line deleted by mistake is refused where the file stops making
sense instead of folding the next paper into this one (issue 10): an abstract with Hangul,
Korean text after the English, or a commentary line followed by what reads as a whole new
entry all say which line seems missing. Blank lines may only separate entries; a title may
appear once a day.

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
# A line meant as a tag line but mistyped: a space after '#', commas, odd spaces (tabs, the
# Korean IME's full-width space and '＃'), or a tag without its '#' ('#rl reasoning').
# Combining marks count as tag letters here ('#é' typed as e + U+0301 by macOS or a PDF copy),
# so such a line is refused where it stands rather than read as commentary.
_TAG_CHAR = r"[\w\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f-]"
_LOOSE_TAG_LINE = re.compile(rf"\s*[#＃]\s*{_TAG_CHAR}+(?:[\s,]+(?:[#＃]\s*)?{_TAG_CHAR}+)*[\s,]*")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_URL = re.compile(r"\S*https?://\S*")
_WORD_CHAR = re.compile(r"\w")
# Control characters but tab (C0, DEL, C1; a carriage return only at a line's end), a BOM
# anywhere but the start, and the non-characters XML forbids: the same set as
# newsletters.models.CONTROL_CHARACTERS, which this pure module may not import.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
_CONTROL_NAMES = {
    "\x00": "a NUL character (U+0000)",
    "\r": "a carriage return in the middle of a line",
    "\ufeff": "an invisible byte order mark (U+FEFF)",
}


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
    seen: dict[str, str] = {}
    for entry in digest.entries:
        _check_writable(entry)
        key = normalise_title(entry.title)
        if key in seen:
            raise DigestNotWritableError(
                f"entry {entry.title!r} cannot be written as text: the day already has an entry titled"
                f" {seen[key]!r} (a title may appear once a day)"
            )
        seen[key] = entry.title
        lines.extend(_entry_lines(entry))
    return "\n".join(lines) + "\n"


def commentary_lines(markdown_text: str) -> list[str]:
    """The file lines of one commentary: its non-blank lines, one paragraph each."""
    return [line for line in markdown_text.replace("\r", "").split("\n") if line.strip()]


def normalise_title(title: str) -> str:
    """A title compared loosely: case and runs of whitespace do not matter."""
    return " ".join(title.split()).casefold()


def _entry_lines(entry: ParsedEntry) -> list[str]:
    return [
        entry.title,
        "(" + ", ".join(entry.authors) + ")",
        entry.abstract,
        *commentary_lines(entry.commentary_ko),
        *commentary_lines(entry.commentary_en),
        " ".join(f"#{tag}" for tag in entry.tags),
    ]


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
    if contains_hangul(entry.abstract):
        problems.append("its abstract holds Hangul (it would read as Korean commentary)")
    if not entry.tags:
        problems.append("it has no tags")
    elif not is_tag_line(" ".join(f"#{tag}" for tag in entry.tags)):
        problems.append(f"a tag is not a single word of letters, digits, '-' or '_': {entry.tags}")
    elif any(tag != tag.lower() for tag in entry.tags):
        problems.append(f"a tag is not in lower case: {entry.tags}")
    korean, english = commentary_lines(entry.commentary_ko), commentary_lines(entry.commentary_en)
    if not korean or not english:
        problems.append("it needs both Korean and English commentary")
    if any(not contains_hangul(line) for line in korean):
        problems.append("a Korean commentary paragraph holds no Hangul")
    if english and contains_hangul(english[0]):
        problems.append("the first English commentary paragraph holds Hangul")
    if any(_looks_korean(line) for line in english[1:]):
        problems.append("an English commentary paragraph reads as Korean")
    if any(_looks_like_tag_line(line) for line in korean + english):
        problems.append("a commentary paragraph looks like a tag line")
    if not problems:
        # Whatever the checks above miss, the parser decides: never export a file that cannot be imported.
        try:
            parse_digest_text("\n".join(["2000-01-01", *_entry_lines(entry)]))
        except DigestFormatError as exc:
            problems.append(exc.message)
    if problems:
        raise DigestNotWritableError(
            f"entry {entry.title!r} cannot be written as text: " + "; ".join(problems)
        )


class _Parser:
    """A single pass over the lines; each method consumes what it names or raises."""

    def __init__(self, text: str, filename: str | None) -> None:
        text = text.removeprefix("\ufeff")
        # split("\n"), not splitlines(): U+2028 inside a line must stay in it.
        self.lines = [line.rstrip("\r") for line in text.split("\n")]
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        self.filename = filename
        self.index = 0  # 0-based index of the next line to read
        self.titles: dict[str, int] = {}  # normalised title -> line of the entry that has it
        self.english_run = (0, 0)  # see english_run_end

    def error(self, message: str, line: int) -> DigestFormatError:
        return DigestFormatError(message, line=line, filename=self.filename)

    def parse(self) -> ParsedDigest:
        self.check_characters()
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

    def check_characters(self) -> None:
        """Refuse control characters: invisible in an editor, and PostgreSQL cannot store NUL."""
        for number, line in enumerate(self.lines, start=1):
            match = _CONTROL.search(line)
            if match:
                char = match.group()
                what = _CONTROL_NAMES.get(char, f"the control character U+{ord(char):04X}")
                raise self.error(
                    f"expected plain text, got {what} at column {match.start() + 1}; delete it"
                    " (copying from a PDF or a terminal can leave such characters behind)",
                    number,
                )

    def at_end(self) -> bool:
        return self.index >= len(self.lines)

    def skip_blank_lines(self) -> None:
        while not self.at_end() and not self.lines[self.index].strip():
            self.index += 1

    def peek(self, offset: int = 0) -> str | None:
        """A line ahead of the next one (offset 0 is the next), or None past the end."""
        position = self.index + offset
        return self.lines[position] if position < len(self.lines) else None

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
        start = self.index + 1
        title = self.parse_title()
        authors = self.parse_authors(start)
        abstract = self.parse_abstract(start)
        korean = self.parse_korean_commentary(start)
        english, tags = self.parse_english_commentary_and_tags(start)
        return ParsedEntry(
            title=title,
            authors=authors,
            abstract=abstract,
            commentary_ko="\n\n".join(korean),
            commentary_en="\n\n".join(english),
            tags=tags,
            line=start,
        )

    def parse_title(self) -> str:
        number, title = self.index + 1, self.lines[self.index]
        self.index += 1
        if _looks_like_tag_line(title):
            raise self.error(
                f"expected the title of an entry, got the tag line {_quote(title)}"
                " (an entry has exactly one tag line, at its end)",
                number,
            )
        following = self.peek()
        if _looks_like_authors(title) and not (following and _looks_like_authors(following)):
            raise self.error(
                f"expected the title of an entry, got {_quote(title)}, which looks like an authors line:"
                " the title seems missing (an entry starts with its title, then the authors in parentheses)",
                number,
            )
        key = normalise_title(title)
        if key in self.titles:
            raise self.error(
                f"expected each paper once in a day, got the title of the entry on line {self.titles[key]}"
                " again; merge the two entries or delete one",
                number,
            )
        self.titles[key] = number
        return title

    def parse_authors(self, start: int) -> tuple[str, ...]:
        expected = "the authors line in parentheses after the title"
        number, line = self.next_entry_line(start, expected)
        if not (line.startswith("(") and line.endswith(")")):
            if _looks_like_authors(line):
                hint = "remove the spaces before '(' and after ')'"
            else:
                hint = "the authors line seems missing"
            raise self.error(f"expected {expected}, got {_quote(line)} ({hint})", number)
        inside = line[1:-1]
        return tuple(inside.split(", ")) if inside else ()

    def parse_abstract(self, start: int) -> str:
        expected = "a one-line abstract after the authors line"
        number, line = self.next_entry_line(start, expected)
        if is_tag_line(line):
            raise self.error(
                f"expected {expected}, got the tag line {_quote(line)}"
                " (the abstract and the commentary seem missing)",
                number,
            )
        if contains_hangul(line):
            raise self.error(
                f"expected {expected}, without Hangul, got {_quote(line)}: if this is Korean commentary,"
                " the abstract seems missing; Korean text belongs in the commentary after the abstract",
                number,
            )
        return line

    def parse_korean_commentary(self, start: int) -> list[str]:
        """The run of lines holding Hangul right after the abstract; at least one."""
        expected = "Korean commentary (lines containing Hangul) after the abstract"
        number, line = self.next_entry_line(start, expected)
        if _looks_like_tag_line(line):
            raise self.error(
                f"expected {expected}, got the tag line {_quote(line)}:"
                " every entry needs Korean and then English commentary before its tags",
                number,
            )
        if not contains_hangul(line):
            raise self.error(
                f"expected {expected}, got {_quote(line)}: the Korean commentary seems missing,"
                " or the abstract runs over more than one line (it must be one line)",
                number,
            )
        korean = [line]
        while not self.at_end():
            line = self.lines[self.index]
            if not line.strip() or _looks_like_tag_line(line) or not contains_hangul(line):
                break
            korean.append(line)
            self.index += 1
        return korean

    def parse_english_commentary_and_tags(self, start: int) -> tuple[list[str], tuple[str, ...]]:
        """English commentary lines (at least one), then the tag line that closes the entry."""
        closing = f"a tag line (#tag #other) to close the entry that starts on line {start}"
        english: list[str] = []
        while True:
            if self.at_end():
                raise self.error(
                    f"expected {closing}, got the end of the file: its tag line seems missing",
                    len(self.lines),
                )
            number, line = self.index + 1, self.lines[self.index]
            if not line.strip():
                raise self.error(
                    f"expected {closing}, got a blank line: blank lines may only separate entries,"
                    " so the tag line seems missing above it",
                    number,
                )
            self.index += 1
            if is_tag_line(line):
                if not english:
                    raise self.error(
                        "expected English commentary after the Korean commentary in the entry that starts"
                        f" on line {start}, got the tag line {_quote(line)}:"
                        " every entry needs Korean and then English commentary before its tags",
                        number,
                    )
                return english, self.read_tags(line, number)
            if _looks_like_tag_line(line):
                combining = _COMBINING.search(line)
                accent = ""
                if combining:
                    where, code = combining.start() + 1, ord(combining.group())
                    accent = (
                        f" (column {where} holds a combining accent, U+{code:04X}:"
                        " type the accented letter as one character)"
                    )
                raise self.error(
                    f"expected {closing}, got {_quote(line)}: write each tag as '#' followed directly by"
                    f" letters, digits, '-' or '_', with one space between tags (such as '#rl #llm'){accent}",
                    number,
                )
            if english and _looks_korean(line):
                raise self.error(
                    f"expected English commentary or {closing}, got Korean text after the English"
                    f" commentary {_quote(line)}: if a new entry starts here, the tag line of the entry"
                    f" that starts on line {start} seems missing; otherwise move this line up, above"
                    " the English commentary",
                    number,
                )
            if english and _looks_like_authors(line) and self.reads_as_entry(number - 2):
                raise self.error(
                    f"expected {closing}, got {_quote(line)}, which looks like the authors line of a new"
                    f" entry whose title is line {number - 1}: the tag line of the entry that starts on"
                    f" line {start} seems missing; add it above line {number - 1}",
                    number,
                )
            english.append(line)

    def reads_as_entry(self, index: int) -> bool:
        """True when the lines from index on read as one whole entry, title to tag line.

        Not the parser itself: a forward scan that stops at the first line out of place. It runs
        from every parenthesised commentary line, so the English run it ends with is remembered
        (english_run_end) and a file full of such lines is still read in linear time.
        """
        lines = self.lines
        title, authors, abstract = (lines[index + n] if index + n < len(lines) else "" for n in range(3))
        if not title.strip() or _looks_like_tag_line(title):
            return False
        if not (authors.startswith("(") and authors.endswith(")")):
            return False
        if not abstract.strip() or _looks_like_tag_line(abstract) or contains_hangul(abstract):
            return False
        position = index + 3
        while position < len(lines) and lines[position].strip() and not _looks_like_tag_line(lines[position]):
            if not contains_hangul(lines[position]):
                break
            position += 1
        if position == index + 3:
            return False  # no Korean commentary
        end = self.english_run_end(position)
        return end > position and end < len(lines) and is_tag_line(lines[end])

    def english_run_end(self, position: int) -> int:
        """The index of the first line from position on that cannot be English commentary."""
        start, end = self.english_run
        if start <= position < end:
            return end
        end = position
        while end < len(self.lines):
            line = self.lines[end]
            if not line.strip() or _looks_like_tag_line(line) or (end > position and _looks_korean(line)):
                break
            end += 1
        self.english_run = (position, end)
        return end

    def read_tags(self, line: str, number: int) -> tuple[str, ...]:
        tags = tuple(token[1:] for token in line.split())
        repeated = [tag for position, tag in enumerate(tags) if tag in tags[:position]]
        if repeated:
            raise self.error(f"expected each tag once on the tag line, got #{repeated[0]} twice", number)
        upper = [tag for tag in tags if tag != tag.lower()]
        if upper:
            raise self.error(
                f"expected tags in lower case, got #{upper[0]}; write #{upper[0].lower()}"
                " (tags are compared exactly, so #RL and #rl would be two different tags)",
                number,
            )
        return tags


def _looks_like_authors(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("(") and stripped.endswith(")")


def _looks_like_tag_line(line: str) -> bool:
    """A tag line, or one meant as a tag line but mistyped: '# rl', '#rl,#llm', '#rl  #llm', '#rl llm'."""
    return bool(_LOOSE_TAG_LINE.fullmatch(line))


def _looks_korean(line: str) -> bool:
    """True when at least a third of the line's words (URLs aside) hold Hangul: a Korean sentence,
    not an English one quoting a Korean word."""
    words = [word for word in _URL.sub(" ", line).split() if _WORD_CHAR.search(word)]
    korean = sum(1 for word in words if contains_hangul(word))
    return korean * 3 >= len(words) and korean > 0


def _quote(line: str, limit: int = 80) -> str:
    """The start of a line, quoted, short enough for an error message."""
    shown = line if len(line) <= limit else line[: limit - 1] + "…"
    return repr(shown)
