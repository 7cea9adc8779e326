"""The text import's limits (newsletters/models.py): refused at the line to fix, nothing stored."""

import io
import os
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletters.authoring.importing import (
    DigestFileError,
    import_digest_text,
    plan_digest_import,
    read_digest_file,
)
from newsletters.authoring.textformat import DigestFormatError, parse_digest_text
from newsletters.models import (
    ABSTRACT_MAX_CHARS,
    AUTHOR_MAX_CHARS,
    COMMENTARY_MAX_CHARS,
    CONTROL_CHARACTERS,
    IMPORT_MAX_BYTES,
    MAX_AUTHORS,
    Digest,
    Entry,
)
from tests.conftest import digest_text_files

pytestmark = pytest.mark.django_db

DAY = "2025-03-06\nTitle One\n(A, B)\nAbstract.\n첫 코멘트.\n둘째 코멘트.\nComment.\nMore comment.\n#rl\n"


def refusal(text: str) -> str:
    with pytest.raises(DigestFormatError) as caught:
        plan_digest_import(text, filename="day.txt")
    assert not Digest.objects.exists() and not Entry.objects.exists()
    return str(caught.value)


def test_every_known_digest_file_is_well_within_the_limits():
    for path in digest_text_files():
        data = path.read_bytes()
        assert len(data) * 4 < IMPORT_MAX_BYTES, path
        try:
            parsed = parse_digest_text(data.decode("utf-8-sig"))
        except DigestFormatError:
            continue  # tests/data/bad holds refusals on purpose
        for entry in parsed.entries:
            assert len(entry.abstract) * 4 < ABSTRACT_MAX_CHARS, path
            assert len(entry.commentary_ko) * 10 < COMMENTARY_MAX_CHARS, path
            assert len(entry.commentary_en) * 10 < COMMENTARY_MAX_CHARS, path


def test_a_korean_commentary_over_the_limit_is_refused_at_its_first_line():
    long_line = "가" * COMMENTARY_MAX_CHARS
    message = refusal(DAY.replace("둘째 코멘트.", long_line))

    assert message == (
        f"day.txt:5: Korean commentary longer than {COMMENTARY_MAX_CHARS} characters"
        f" (it has {COMMENTARY_MAX_CHARS + 8}, from this line on)"
    )


def test_an_english_commentary_over_the_limit_is_refused_at_its_first_line():
    message = refusal(DAY.replace("More comment.", "x" * COMMENTARY_MAX_CHARS))

    assert message.startswith(f"day.txt:7: English commentary longer than {COMMENTARY_MAX_CHARS} characters")


def test_an_abstract_a_title_and_authors_over_their_limits_are_refused_at_their_lines():
    assert refusal(DAY.replace("Abstract.", "a" * (ABSTRACT_MAX_CHARS + 1))).startswith(
        f"day.txt:4: abstract longer than {ABSTRACT_MAX_CHARS} characters"
    )
    assert refusal(DAY.replace("Title One", "T" * 501)).startswith(
        "day.txt:2: expected a title of at most 500"
    )
    many = ", ".join(f"N{n}" for n in range(MAX_AUTHORS + 1))
    assert refusal(DAY.replace("(A, B)", f"({many})")).startswith(
        f"day.txt:3: expected at most {MAX_AUTHORS}"
    )
    assert refusal(DAY.replace("(A, B)", f"({'A' * (AUTHOR_MAX_CHARS + 1)})")).startswith(
        f"day.txt:3: author name longer than {AUTHOR_MAX_CHARS} characters"
    )


def test_text_exactly_at_the_limits_is_imported():
    text = DAY.replace("More comment.", "x" * (COMMENTARY_MAX_CHARS - len("Comment.") - 2)).replace(
        "Abstract.", "a" * ABSTRACT_MAX_CHARS
    )

    entry = import_digest_text(text).digest.entries.get()

    assert (len(entry.commentary_en), len(entry.abstract)) == (COMMENTARY_MAX_CHARS, ABSTRACT_MAX_CHARS)


def test_a_day_larger_than_the_import_limit_is_refused_before_parsing():
    text = DAY + ("\n" * (IMPORT_MAX_BYTES + 1))

    assert refusal(text).startswith(f"day.txt:1: expected a day of at most {IMPORT_MAX_BYTES:,} bytes")


# Any text placed in a commentary line: the import either stores it whole or refuses it with a
# DigestFormatError; never another exception, never a control character stored.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=40))
def test_any_commentary_text_is_stored_whole_or_refused_with_a_line(text):
    try:
        plan = plan_digest_import(DAY.replace("More comment.", f"More {text}"), filename="day.txt")
    except DigestFormatError as error:
        assert error.filename == "day.txt" and 1 <= error.line <= 10
        return
    stored = plan.parsed.entries[0].commentary_en
    assert not CONTROL_CHARACTERS.search(stored)


def test_the_parser_refuses_exactly_the_characters_the_admin_refuses():
    for code in range(0x10000):
        char = chr(code)
        if char in "\n\r" or 0xD800 <= code <= 0xDFFF:
            continue
        text = DAY.replace("Comment.", f"Com{char}ment.")
        try:
            parse_digest_text(text)
            refused = False
        except DigestFormatError as error:
            refused = "column 4" in error.message and "expected plain text" in error.message
        assert refused == bool(CONTROL_CHARACTERS.search(char)), hex(code)


def test_read_digest_file_refuses_a_device_without_reading_it():
    with pytest.raises(DigestFileError, match="not a regular file"):
        read_digest_file("/dev/zero")


def test_read_digest_file_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path):
    fifo = tmp_path / "day.txt"
    os.mkfifo(fifo)
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(_try_read(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=5)

    assert outcome and isinstance(outcome[0], DigestFileError)


def _try_read(path: Path) -> object:
    try:
        return read_digest_file(path)
    except DigestFileError as error:
        return error


def test_read_digest_file_refuses_a_directory_and_a_file_over_the_limit(tmp_path: Path):
    with pytest.raises(DigestFileError, match="not a regular file"):
        read_digest_file(tmp_path)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (IMPORT_MAX_BYTES + 1))
    with pytest.raises(DigestFileError, match=f"larger than {IMPORT_MAX_BYTES:,} bytes"):
        read_digest_file(big)
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"x" * IMPORT_MAX_BYTES)
    assert len(read_digest_file(exact)) == IMPORT_MAX_BYTES


def test_import_digest_refuses_dev_zero_and_a_fifo_and_still_imports_the_good_file(tmp_path: Path):
    good = tmp_path / "good.txt"
    good.write_text(DAY, encoding="utf-8")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="2 of 3 file"):
        call_command("import_digest", "/dev/zero", str(fifo), str(good), stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        "/dev/zero: not a regular file (a device, a pipe or a directory); give a text file",
        f"{fifo}: not a regular file (a device, a pipe or a directory); give a text file",
    ]
    assert Digest.objects.get().entries.count() == 1
