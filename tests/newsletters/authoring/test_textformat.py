"""The digest text format: lossless round trip, what each line becomes, and errors that point at a line."""

import datetime
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletters.authoring.textformat import (
    DigestFormatError,
    DigestNotWritableError,
    ParsedDigest,
    ParsedEntry,
    format_digest_text,
    normalise_title,
    parse_digest_bytes,
    parse_digest_text,
)
from tests.conftest import DATA_DIR, digest_text_files

BAD_DIR = DATA_DIR / "bad"

# Every malformed fixture: the line the editor must fix and words the message must hold.
BAD_FILES = {
    "empty.txt": (1, "got an empty file"),
    "no-date-line.txt": (1, "expected a date line"),
    "impossible-date.txt": (1, "expected a real calendar date, got '2025년 2월 30일'"),
    "date-only.txt": (1, "expected the title of the first entry"),
    "missing-authors.txt": (
        3,
        "expected the authors line in parentheses after the title, got 'Foundation models are almost"
        " universally based on the Transformer architecture.' (the authors line seems missing)",
    ),
    "missing-abstract.txt": (4, "expected a one-line abstract after the authors line, got the tag line"),
    "no-tag-line-at-end.txt": (
        12,
        "expected a tag line (#tag #other) to close the entry that starts on line 8",
    ),
    "no-tag-line-before-blank.txt": (7, "to close the entry that starts on line 2, got a blank line"),
    "tag-line-instead-of-title.txt": (8, "expected the title of an entry, got the tag line '#llm'"),
    "blank-line-inside-entry.txt": (3, "expected the authors line in parentheses after the title"),
    "repeated-tag.txt": (7, "got #scaling-law twice"),
    "missing-tag-line-between-entries.txt": (
        8,
        "the tag line of the entry that starts on line 2 seems missing; add it above line 7",
    ),
    "missing-title.txt": (8, "which looks like an authors line: the title seems missing"),
    "korean-after-english.txt": (7, "got Korean text after the English commentary"),
    "hangul-in-abstract.txt": (4, "expected a one-line abstract after the authors line, without Hangul"),
    "no-korean-commentary.txt": (
        5,
        "expected Korean commentary (lines containing Hangul) after the abstract",
    ),
    "no-english-commentary.txt": (6, "expected English commentary after the Korean commentary"),
    "duplicate-title.txt": (
        14,
        "expected each paper once in a day, got the title of the entry on line 2 again",
    ),
    "tag-line-typo.txt": (7, "got '# scaling-law #llm': write each tag as '#' followed directly by"),
    "uppercase-tag.txt": (7, "expected tags in lower case, got #LLM; write #llm"),
    "control-character.txt": (3, "expected plain text, got a NUL character (U+0000) at column 19"),
    "not-utf8.txt": (4, "expected UTF-8 text, got the byte 0x97"),
}


def read_fixture(name: str) -> ParsedDigest:
    path = DATA_DIR / name
    return parse_digest_text(path.read_text(encoding="utf-8"), filename=name)


def with_final_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


@pytest.mark.parametrize("path", digest_text_files(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_digest_file_comes_back_unchanged_after_parse_and_format(path: Path):
    text = path.read_text(encoding="utf-8")

    assert format_digest_text(parse_digest_text(text)) == with_final_newline(text)


def test_the_known_files_include_our_fixtures_and_sample_content():
    names = {path.name for path in digest_text_files()}

    assert {"digest-2025-03-03.txt", "digest-2025-03-04.txt", "digest-2025-03-05.txt"} <= names
    assert len([path for path in digest_text_files() if path.parent.name == "sample_content"]) >= 3


def test_a_korean_date_line_gives_the_date_and_remembers_its_format():
    digest = read_fixture("digest-2025-03-04.txt")

    assert digest.date == datetime.date(2025, 3, 4)
    assert digest.date_format == "ko"
    assert format_digest_text(digest).startswith("2025년 3월 4일\n")


def test_an_iso_date_line_gives_the_date_and_remembers_its_format():
    digest = read_fixture("digest-2025-03-03.txt")

    assert digest.date == datetime.date(2025, 3, 3)
    assert digest.date_format == "iso"
    assert format_digest_text(digest).startswith("2025-03-03\n")


def test_authors_are_split_on_comma_space_and_keep_parentheses_inside_names():
    entry = read_fixture("digest-2025-03-03.txt").entries[1]

    assert entry.authors == ("Yang (Katie)Zhao", "Yu (Kevin)Cao", "Min-Jun Park", "Seo-yeon (Sunny) Lee")


def test_each_commentary_line_becomes_one_markdown_paragraph():
    entry = read_fixture("digest-2025-03-04.txt").entries[0]

    assert entry.commentary_ko == (
        "확산 모델이 GAN을 이긴 순간. Classifier Guidance가 처음 소개된 논문이에요.\n\n"
        "이후 Classifier-Free Guidance(https://arxiv.org/abs/2207.12598)로 이어집니다.\n\n"
        "지금 보면 당연하지만 당시에는 꽤 충격이었죠."
    )
    assert entry.commentary_en == (
        "The paper where diffusion models overtook GANs, and where classifier guidance first appeared.\n\n"
        "It led directly to classifier-free guidance (https://arxiv.org/abs/2207.12598)."
    )


def test_english_commentary_may_quote_a_korean_word_after_its_first_line():
    entry = read_fixture("digest-2025-03-03.txt").entries[2]

    assert entry.commentary_ko == "워밍업이 왜 필요한지에 대한 간단한 설명."
    assert entry.commentary_en.split("\n\n") == [
        "The first English paragraph explains the claim.",
        "In Korean labs this trick is often just called 워밍업,"
        " and the paper agrees it matters mostly for Adam.",
        "A third paragraph with **bold** and `code` in markdown.",
    ]


def test_tags_keep_the_written_order_and_may_hold_dashes_hangul_underscores_and_digits():
    digest = read_fixture("digest-2025-03-05.txt")

    assert [entry.tags for entry in digest.entries] == [
        ("rl", "alignment", "강화학습"),
        ("long_context", "benchmark", "gpt4-eval"),
        ("reasoning",),
    ]
    assert read_fixture("digest-2025-03-03.txt").entries[1].tags == (
        "moe",
        "efficiency",
        "distributed-training",
    )


def test_commentary_may_hold_parentheses_urls_and_hashes_in_prose():
    entry = read_fixture("digest-2025-03-05.txt").entries[1]

    assert entry.commentary_ko == "니들 테스트 점수만으로는 실제 긴 문맥 활용을 알 수 없다는 주장."
    assert entry.commentary_en.split("\n\n")[1:] == [
        "(Code and data: https://github.com/example/long-context-eval)",
        "#1 on our reading list this week, and the C# harness is worth a look.",
    ]


def test_a_title_may_hold_hangul():
    entry = read_fixture("digest-2025-03-05.txt").entries[2]

    assert entry.title == "Tiny Recursive Reasoning Networks (작은 재귀 추론 네트워크)"
    assert entry.commentary_ko == "작은 네트워크가 잠재 답안을 반복해서 고치는 구조."


def test_each_entry_knows_the_line_of_its_title():
    digest = read_fixture("digest-2025-03-03.txt")

    assert [(entry.line, entry.title[:20]) for entry in digest.entries] == [
        (2, "Attention Is Not All"),
        (10, "Sparse Routing for M"),
        (16, "Learning Rate Warmup"),
    ]


def test_windows_line_endings_and_a_byte_order_mark_read_the_same_as_plain_text():
    text = (DATA_DIR / "digest-2025-03-04.txt").read_text(encoding="utf-8")
    windows = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")

    parsed = parse_digest_bytes(windows)

    assert parsed == parse_digest_text(text)
    assert format_digest_text(parsed) == text


def test_blank_lines_between_entries_and_at_the_end_are_tolerated():
    text = (DATA_DIR / "digest-2025-03-04.txt").read_text(encoding="utf-8")
    spaced = text.replace("\n#diffusion #image-generation\n", "\n#diffusion #image-generation\n\n\n") + "\n\n"

    assert parse_digest_text(spaced) == parse_digest_text(text)


def test_whitespace_at_the_end_of_a_line_is_kept():
    text = (
        "2025-03-06\nA title with a trailing space \n(A. Author)\nAbstract.  \n"
        "한국어 코멘트 \nEnglish.\t\n#rl\n"
    )

    entry = parse_digest_text(text).entries[0]

    assert entry.title == "A title with a trailing space "
    assert (entry.abstract, entry.commentary_ko, entry.commentary_en) == (
        "Abstract.  ",
        "한국어 코멘트 ",
        "English.\t",
    )
    assert format_digest_text(parse_digest_text(text)) == text


def test_a_line_separator_inside_a_line_does_not_split_it():
    text = "2025-03-06\nTitle\n(A)\nAbstract with \u2028 inside.\n코멘트.\nComment.\n#rl\n"

    assert parse_digest_text(text).entries[0].abstract == "Abstract with \u2028 inside."


def test_a_form_feed_is_refused_like_every_control_character_but_tab():
    # XML 1.0 cannot hold it: stored, it would break every feed the entry is in.
    text = "2025-03-06\nTitle\n(A)\nAbstract with \x0c inside.\n코멘트.\nComment.\n#rl\n"

    assert refusal_of(text)[0] == 4


def test_every_malformed_fixture_has_an_expected_error():
    assert sorted(path.name for path in BAD_DIR.glob("*.txt")) == sorted(BAD_FILES)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_malformed_file_is_refused_at_the_line_to_fix(name: str):
    line, words = BAD_FILES[name]

    with pytest.raises(DigestFormatError) as caught:
        parse_digest_bytes((BAD_DIR / name).read_bytes(), filename=name)

    assert (caught.value.line, caught.value.filename) == (line, name)
    assert words in caught.value.message
    assert str(caught.value) == f"{name}:{line}: {caught.value.message}"


def test_an_error_without_a_file_name_says_line_n():
    with pytest.raises(DigestFormatError) as caught:
        parse_digest_text("2025-03-06\nTitle\nno parentheses\n")

    assert str(caught.value) == (
        "line 3: expected the authors line in parentheses after the title, got 'no parentheses'"
        " (the authors line seems missing)"
    )
    assert isinstance(caught.value, ValueError)


def test_writing_refuses_an_entry_that_would_read_back_differently():
    def digest_of(**overrides) -> ParsedDigest:
        fields = dict(
            title="T",
            authors=("A",),
            abstract="Abs.",
            commentary_ko="좋아요",
            commentary_en="Good.",
            tags=("rl",),
        )
        return ParsedDigest(datetime.date(2025, 3, 6), "iso", (ParsedEntry(**{**fields, **overrides}),))

    assert format_digest_text(digest_of()) == "2025-03-06\nT\n(A)\nAbs.\n좋아요\nGood.\n#rl\n"
    with pytest.raises(DigestNotWritableError, match="no tags"):
        format_digest_text(digest_of(tags=()))
    with pytest.raises(DigestNotWritableError, match="first English commentary paragraph holds Hangul"):
        format_digest_text(digest_of(commentary_en="한국어 first"))
    with pytest.raises(DigestNotWritableError, match="Korean commentary paragraph holds no Hangul"):
        format_digest_text(digest_of(commentary_ko="좋아요\n\nhttps://example.com"))
    with pytest.raises(DigestNotWritableError, match="looks like a tag line"):
        format_digest_text(digest_of(commentary_en="Fine.\n\n#rl #llm"))
    with pytest.raises(DigestNotWritableError, match="looks like a tag line"):
        format_digest_text(digest_of(commentary_en="Fine.\n\n# rl"))
    with pytest.raises(DigestNotWritableError, match="needs both Korean and English commentary"):
        format_digest_text(digest_of(commentary_ko=""))
    with pytest.raises(DigestNotWritableError, match="needs both Korean and English commentary"):
        format_digest_text(digest_of(commentary_en="\n\n"))
    with pytest.raises(DigestNotWritableError, match="abstract holds Hangul"):
        format_digest_text(digest_of(abstract="Abs. 초록"))
    with pytest.raises(DigestNotWritableError, match="English commentary paragraph reads as Korean"):
        format_digest_text(digest_of(commentary_en="Good.\n\n나중에 쓴 한국어 문단."))
    with pytest.raises(DigestNotWritableError, match="not in lower case"):
        format_digest_text(digest_of(tags=("RL",)))
    with pytest.raises(DigestNotWritableError, match="expected plain text, got a NUL character"):
        format_digest_text(digest_of(commentary_en="Good\x00."))


def test_writing_refuses_a_commentary_that_would_read_as_a_new_entry():
    entry = ParsedEntry(
        "T",
        ("A",),
        "Abs.",
        "좋아요",
        "Good.\n\n(Ada Lovelace)\n\nAn abstract.\n\nKorean labs just call it 워밍업 these days.\n\n"
        "More English.",
        ("rl",),
    )

    with pytest.raises(DigestNotWritableError, match="seems missing"):
        format_digest_text(ParsedDigest(datetime.date(2025, 3, 6), "iso", (entry,)))


def test_writing_refuses_the_same_title_twice_in_a_day():
    entry = ParsedEntry("Same Title", ("A",), "Abs.", "좋아요", "Good.", ("rl",))
    again = ParsedEntry("same  title", ("B",), "Abs.", "좋아요", "Good.", ("llm",))

    with pytest.raises(DigestNotWritableError, match="already has an entry titled 'Same Title'"):
        format_digest_text(ParsedDigest(datetime.date(2025, 3, 6), "iso", (entry, again)))


def test_commentary_with_blank_and_windows_line_breaks_is_written_one_paragraph_a_line():
    entry = ParsedEntry("T", ("A",), "Abs.", "첫째\r\n\r\n\r\n둘째\n", "One\n\n  \nTwo", ("rl",))

    text = format_digest_text(ParsedDigest(datetime.date(2025, 3, 6), "ko", (entry,)))

    assert text == "2025년 3월 6일\nT\n(A)\nAbs.\n첫째\n둘째\nOne\nTwo\n#rl\n"


# --- Property: any digest the format can hold survives format -> parse -> format. ---

ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
HANGUL = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
ANY_CHAR = st.one_of(ASCII, HANGUL)
LETTER = st.sampled_from(string.ascii_letters)
URL = st.sampled_from(
    ["https://arxiv.org/abs/2505.13447", "http://example.com/a_b?x=1&y=(2)", "https://github.com/x/y"]
)


@st.composite
def line_text(draw, *, first=LETTER, chars=ANY_CHAR, must_hold=None) -> str:
    """One non-blank line that starts with a letter (so it can never be a tag line)."""
    parts = [draw(first), draw(st.text(chars, max_size=40))]
    if must_hold is not None:
        parts.append(draw(must_hold))
    if draw(st.booleans()):
        parts.append(" " + draw(URL) + draw(st.text(chars, max_size=10)))
    return "".join(parts)


korean_line = line_text(first=st.one_of(LETTER, HANGUL), must_hold=HANGUL)
author_name = st.text(st.one_of(LETTER, HANGUL, st.sampled_from(" .-'()")), min_size=1, max_size=20)
tag = st.from_regex(r"[a-z0-9가-힣_]{1,12}(-[a-z0-9_]{1,8}){0,2}", fullmatch=True)


@st.composite
def english_lines(draw) -> list[str]:
    """English commentary: a first line without Hangul, later ones may quote a Korean word."""
    lines = [draw(line_text(chars=ASCII))]  # a first English line with Hangul would read as Korean
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            korean_word = draw(st.text(HANGUL, min_size=1, max_size=5))
            lines.append(draw(line_text(chars=ASCII)) + f" is what Korean labs call {korean_word} here")
        else:
            lines.append(draw(line_text(chars=ASCII)))
    return lines


@st.composite
def parsed_entries(draw) -> ParsedEntry:
    return ParsedEntry(
        title=draw(line_text(first=st.one_of(LETTER, HANGUL))),
        authors=tuple(draw(st.lists(author_name, max_size=5))),
        abstract=draw(line_text(chars=ASCII)),
        commentary_ko="\n\n".join(draw(st.lists(korean_line, min_size=1, max_size=3))),
        commentary_en="\n\n".join(draw(english_lines())),
        tags=tuple(draw(st.lists(tag, min_size=1, max_size=4, unique=True))),
    )


parsed_digests = st.builds(
    ParsedDigest,
    date=st.dates(min_value=datetime.date(1000, 1, 1)),
    date_format=st.sampled_from(["ko", "iso"]),
    entries=st.lists(
        parsed_entries(), min_size=1, max_size=4, unique_by=lambda entry: normalise_title(entry.title)
    ).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(parsed_digests)
def test_any_writable_digest_reads_back_as_the_same_values_and_text(digest: ParsedDigest):
    text = format_digest_text(digest)

    parsed = parse_digest_text(text)

    assert parsed == digest
    assert format_digest_text(parsed) == text


# --- A careless editor and a hostile file: refused at a line, in plain words, in linear time. ---

ONE_ENTRY = "2025-03-06\nTitle One\n(A, B)\nAbstract.\n코멘트.\nComment.\n#rl\n"
SECOND_ENTRY = "Title Two\n(C)\nAbstract two.\n두 번째.\nSecond.\n#llm\n"


def refusal_of(text: str) -> tuple[int, str]:
    with pytest.raises(DigestFormatError) as caught:
        parse_digest_text(text)
    return caught.value.line, caught.value.message


def test_doubled_blank_lines_between_entries_are_fine_but_not_inside_one():
    assert len(parse_digest_text(ONE_ENTRY + "\n\n" + SECOND_ENTRY).entries) == 2
    assert refusal_of(ONE_ENTRY.replace("코멘트.\n", "코멘트.\n\n\n"))[0] == 6


@pytest.mark.parametrize(
    ("typo", "words"),
    [
        ("# rl", "got '# rl': write each tag as '#' followed directly by"),
        ("#rl, #llm", "got '#rl, #llm': write each tag"),
        ("#rl llm", "got '#rl llm': write each tag"),
        ("#rl\t#llm", "write each tag"),
        ("＃rl", "got '＃rl': write each tag"),
        ("#강화 학습", "got '#강화 학습': write each tag"),
        ("#RL", "expected tags in lower case, got #RL; write #rl"),
    ],
)
def test_a_mistyped_tag_line_is_refused_on_its_line(typo: str, words: str):
    line, message = refusal_of(ONE_ENTRY.replace("#rl", typo) + SECOND_ENTRY)

    assert line == 7
    assert words in message


def test_spaces_around_the_authors_line_are_pointed_out():
    assert refusal_of(ONE_ENTRY.replace("(A, B)", "(A, B) ")) == (
        3,
        "expected the authors line in parentheses after the title, got '(A, B) '"
        " (remove the spaces before '(' and after ')')",
    )


def test_titles_in_or_with_parentheses_are_titles_when_the_authors_line_follows():
    for title in ("(Almost) Free Lunch", "Mamba (Selective SSM)", "(A Title In Parentheses)"):
        assert parse_digest_text(ONE_ENTRY.replace("Title One", title)).entries[0].title == title


def test_a_commentary_line_in_parentheses_is_commentary_unless_a_whole_entry_follows():
    text = ONE_ENTRY.replace("Comment.\n", "Comment.\n(See https://example.com (v2).)\nMore.\n")

    assert parse_digest_text(text).entries[0].commentary_en.split("\n\n") == [
        "Comment.",
        "(See https://example.com (v2).)",
        "More.",
    ]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("\x00", "got a NUL character (U+0000) at column 4"),
        ("\x1b", "got the control character U+001B at column 4"),
        ("\ufeff", "got an invisible byte order mark (U+FEFF) at column 4"),
        ("\r", "got a carriage return in the middle of a line at column 4"),
        ("\x0b", "got the control character U+000B at column 4"),
        ("\x85", "got the control character U+0085 at column 4"),
        ("\uffff", "got the control character U+FFFF at column 4"),
    ],
)
def test_control_characters_are_refused_at_their_line_and_column(bad: str, words: str):
    assert refusal_of(ONE_ENTRY.replace("Abstract.", f"Abs{bad}tract.")) == (
        4,
        f"expected plain text, {words}; delete it (copying from a PDF or a terminal can leave"
        " such characters behind)",
    )


def test_old_mac_line_endings_are_refused_on_the_first_line():
    line, message = refusal_of(ONE_ENTRY.replace("\n", "\r"))

    assert (line, message[:60]) == (1, "expected plain text, got a carriage return in the middle of ")


def test_a_huge_line_and_thousands_of_entries_are_read():
    huge = parse_digest_text(ONE_ENTRY.replace("Abstract.", "x" * 2_000_000))
    many = "2025-03-06\n" + "".join(f"Title {n}\n(A)\nAbs.\n코멘트.\nComment.\n#rl\n" for n in range(5000))

    assert len(huge.entries[0].abstract) == 2_000_000
    assert len(parse_digest_text(many).entries) == 5000


def test_reading_ahead_for_a_missing_tag_line_stays_linear(monkeypatch):
    from newsletters.authoring import textformat

    calls = []
    looks_korean = textformat._looks_korean
    monkeypatch.setattr(textformat, "_looks_korean", lambda line: calls.append(line) or looks_korean(line))
    # Every "(x)" could be the authors of a next entry; each look ahead must not rescan the rest.
    text = ONE_ENTRY.replace("#rl\n", "(x)\nabc\nsee 한 in Korean labs\n" * 3000)

    line, message = refusal_of(text)

    assert line == len(text.splitlines())
    assert "got the end of the file" in message
    assert len(calls) < 4 * 9000


def test_a_tag_typed_with_a_combining_accent_is_refused_where_it_stands():
    lines = (DATA_DIR / "digest-2025-03-03.txt").read_text("utf-8").split("\n")
    tag_line = next(number for number, line in enumerate(lines) if line.startswith("#"))
    lines[tag_line] = "#e\u0301 #rl"

    with pytest.raises(DigestFormatError) as refused:
        parse_digest_text("\n".join(lines), filename="day.txt")

    assert refused.value.line == tag_line + 1
    assert "combining accent, U+0301" in str(refused.value)
