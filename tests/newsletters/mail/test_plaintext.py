"""The text part wraps at 76 display columns, Korean counted double, URLs never broken."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletters.mail.content import email_entries_for, render_variant
from newsletters.mail.plaintext import WIDTH, display_width, wrap_text
from tests.newsletters.mail.test_rendering import OWN_LARGE_DAY, import_day

URL = re.compile(r"(?:https?://|mailto:)\S+")
KOREAN_WORDS = [
    "강화학습",
    "보상",
    "모델이",
    "추론을",
    "합니다.",
    "새로운",
    "방법을",
    "제안하는",
    "논문입니다",
    "토큰",
]
ENGLISH_WORDS = [
    "reinforcement",
    "learning",
    "with",
    "verifiable",
    "rewards",
    "scales",
    "to",
    "long",
    "a",
    "the",
]
URLS = [
    "https://arxiv.org/abs/2506.01939",
    "https://example.com/" + "very-long-path/" * 12,
    "(https://github.com/org/repo)로",
    "mailto:unsubscribe@news.digest-lab.net",
]

words = st.sampled_from(KOREAN_WORDS + ENGLISH_WORDS + URLS) | st.text(
    alphabet="가나다라abc", min_size=1, max_size=60
)
lines = st.tuples(st.sampled_from(["", "- ", "1. ", "  "]), st.lists(words, max_size=60)).map(
    lambda parts: parts[0] + " ".join(parts[1])
)


def is_lone_url(line: str) -> bool:
    """A URL alone on its line, after at most an indent or a list marker."""
    rest = re.sub(r"^\s*(?:[-*+]\s+|\d{1,3}[.)]\s+)?", "", line)
    return len(rest.split()) == 1 and bool(URL.search(rest))


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=8))
def test_no_line_is_wider_than_the_limit_except_a_lone_url_and_nothing_is_lost(paragraph):
    text = "\n".join(paragraph)

    wrapped = wrap_text(text)

    for line in wrapped.split("\n"):
        assert display_width(line) <= WIDTH or is_lone_url(line), line
    # No URL is split, and no character other than spacing is added or lost.
    assert URL.findall(wrapped) == URL.findall(text)
    assert "".join(wrapped.split()) == "".join(text.split())


def test_korean_counts_two_columns():
    assert display_width("강화학습") == 8
    assert display_width("RL") == 2
    line = "가" * 50
    assert [display_width(part) for part in wrap_text(line).split("\n")] == [76, 24]


def test_a_list_item_keeps_its_hanging_indent():
    item = "- " + " ".join(["reinforcement"] * 12)

    wrapped = wrap_text(item).split("\n")

    assert wrapped[0].startswith("- reinforcement")
    assert all(line.startswith("  reinforcement") for line in wrapped[1:])


def test_a_long_url_stands_on_its_own_line():
    url = "https://example.com/" + "x" * 90
    assert wrap_text(f"Read more at {url} today") == f"Read more at\n{url}\ntoday"


def test_short_lines_and_blank_lines_are_untouched():
    text = "제목\n\n두 번째 문단입니다.\n"
    assert wrap_text(text) == text


def test_the_text_part_of_an_eleven_paper_day_fits_an_80_column_reader(db):
    digest = import_day(OWN_LARGE_DAY)
    text = render_variant(digest=digest, entry_ids=list(email_entries_for(digest)), language="both").text

    for line in text.split("\n"):
        assert display_width(line) <= 78 or is_lone_url(line) or "%%" in line, line
