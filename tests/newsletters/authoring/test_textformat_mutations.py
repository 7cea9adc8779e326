"""A careless edit of a real digest is refused, never imported as a different day.

Every title, authors, abstract and tag line of every file we have is deleted (and doubled) in
turn; the parser must refuse each result at a line next to the edit. Issue 10: a missing tag
line used to fold the next paper into the previous entry's commentary.
"""

from pathlib import Path

import pytest

from newsletters.authoring.textformat import (
    DigestFormatError,
    commentary_lines,
    parse_digest_text,
)
from tests.conftest import DATA_DIR, SAMPLE_CONTENT, SHARED_SAMPLES

STRUCTURAL = ("title", "authors", "abstract", "tags")


def every_digest_file() -> list[Path]:
    files = sorted(DATA_DIR.glob("*.txt")) + sorted(SAMPLE_CONTENT.glob("*.txt"))
    if SHARED_SAMPLES.is_dir():
        files += sorted(SHARED_SAMPLES.glob("*.txt"))
    return files


def structural_lines(text: str) -> list[tuple[str, int, int]]:
    """(kind, 1-based line, title line of its entry) for every title, authors, abstract and tag line."""
    found = []
    for entry in parse_digest_text(text).entries:
        commentary = len(commentary_lines(entry.commentary_ko)) + len(commentary_lines(entry.commentary_en))
        numbers = (entry.line, entry.line + 1, entry.line + 2, entry.line + 3 + commentary)
        found += [(kind, number, entry.line) for kind, number in zip(STRUCTURAL, numbers, strict=True)]
    return found


def without_line(lines: list[str], number: int) -> str:
    return "\n".join(lines[: number - 1] + lines[number:])


def with_line_twice(lines: list[str], number: int) -> str:
    return "\n".join(lines[:number] + lines[number - 1 :])


def refusal(text: str, name: str) -> DigestFormatError | None:
    try:
        parse_digest_text(text, filename=name)
    except DigestFormatError as error:
        return error
    return None


FILES = every_digest_file()
IDS = [f"{path.parent.name}/{path.name}" for path in FILES]


def test_the_mutations_cover_fixtures_sample_content_and_the_shared_samples_when_present():
    folders = {path.parent for path in FILES}

    assert {DATA_DIR, SAMPLE_CONTENT} <= folders
    assert (SHARED_SAMPLES in folders) == SHARED_SAMPLES.is_dir()
    assert "email-11-entries.txt" in {path.name for path in FILES}


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_deleting_any_title_authors_abstract_or_tag_line_is_refused_next_to_the_gap(path: Path):
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    accepted, misplaced = [], []

    for kind, number, start in structural_lines(text):
        edited = without_line(lines, number)
        error = refusal(edited, path.name)
        if error is None:
            accepted.append(f"{kind} line {number} (entry on line {start})")
            continue
        last_line = len(edited.rstrip("\n").split("\n"))
        # The gap is between lines number-1 and number of the edited file; a missing tag line is
        # noticed on the next entry's authors line, or at the end of the file for the last entry.
        near = number - 1 <= error.line <= number + 1 or (kind == "tags" and error.line == last_line)
        if not near or "seems missing" not in error.message or not str(error).startswith(f"{path.name}:"):
            misplaced.append(f"{kind} line {number} deleted -> {error}")

    assert accepted == []
    assert misplaced == []


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_doubling_any_title_authors_abstract_or_tag_line_is_refused(path: Path):
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")

    accepted = [
        f"{kind} line {number}"
        for kind, number, _ in structural_lines(text)
        if refusal(with_line_twice(lines, number), path.name) is None
    ]

    assert accepted == []


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_deleting_any_single_line_never_drops_or_merges_an_entry(path: Path):
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    titles = [entry.title for entry in parse_digest_text(text).entries]
    changed = []

    for number in range(2, len(lines) + 1):
        try:
            parsed = parse_digest_text(without_line(lines, number))
        except DigestFormatError:
            continue
        if [entry.title for entry in parsed.entries] != titles:
            changed.append(number)

    assert changed == []
