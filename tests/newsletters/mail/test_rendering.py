"""The daily digest email as a reader sees it: entries, languages, subject, size, and links."""

import datetime
import re
from pathlib import Path

import lxml.html
import pytest
from django.utils.html import escape

from newsletters.authoring.importing import import_digest_text
from newsletters.mail.content import email_entries_for, render_variant
from newsletters.mail.rendering import (
    GMAIL_CLIP_BYTES,
    PREFERENCES_URL_PLACEHOLDER,
    UNSUBSCRIBE_URL_PLACEHOLDER,
    EmailEntry,
    abstract_lead,
    render_digest_variant,
    split_sentences,
)
from newsletters.rendering import render_markdown
from tests.conftest import DATA_DIR, SHARED_SAMPLES
from tests.factories import make_digest, make_entry

GOLDEN_DIR = DATA_DIR / "golden"
OWN_LARGE_DAY = DATA_DIR / "email-11-entries.txt"
SHARED_LARGEST_DAY = SHARED_SAMPLES / "digest-2025-05-29.txt"
# What a real signed link costs once it replaces a placeholder.
REAL_UNSUBSCRIBE_URL = "https://digest.example.com/unsubscribe/" + "x" * 120 + "/"
REAL_PREFERENCES_URL = "https://digest.example.com/preferences/" + "y" * 120 + "/"


def email_entry(n: int, **overrides) -> EmailEntry:
    commentary_ko = overrides.pop("commentary_ko", f"{n}번 논문에 대한 한국어 해설입니다.")
    commentary_en = overrides.pop("commentary_en", f"English commentary on paper {n}.")
    fields = {
        "title": f"Paper {n}",
        "authors": ("Ada Lovelace", "Yang (Katie)Zhao"),
        "abstract": f"Abstract of paper {n}.",
        "commentary_ko": commentary_ko,
        "commentary_en": commentary_en,
        "commentary_ko_html": render_markdown(commentary_ko),
        "commentary_en_html": render_markdown(commentary_en),
        "tags": ("rl", "state-space-model"),
        "paper_url": f"https://arxiv.org/abs/2507.0000{n}",
        "archive_url": f"https://digest.example.com/papers/2507.0000{n}/",
    }
    fields.update(overrides)
    return EmailEntry(**fields)


def render(entries: list[EmailEntry], language: str = "both", **overrides):
    kwargs = {
        "date": datetime.date(2025, 7, 10),
        "entries": entries,
        "language": language,
        "site_name": "Research Digest",
        "site_url": "https://digest.example.com",
    }
    kwargs.update(overrides)
    return render_digest_variant(**kwargs)


def personalised(html: str) -> str:
    return html.replace(UNSUBSCRIBE_URL_PLACEHOLDER, REAL_UNSUBSCRIBE_URL).replace(
        PREFERENCES_URL_PLACEHOLDER, REAL_PREFERENCES_URL
    )


def import_day(path: Path):
    return import_digest_text(path.read_text(encoding="utf-8"), filename=path.name).digest


def large_days() -> list[Path]:
    days = [OWN_LARGE_DAY]
    if SHARED_LARGEST_DAY.exists():
        days.append(SHARED_LARGEST_DAY)
    return days


def hrefs(html: str) -> list[str]:
    return [link.get("href") for link in lxml.html.fromstring(html).iter("a")]


@pytest.mark.django_db
@pytest.mark.parametrize("path", large_days(), ids=lambda path: path.name)
def test_the_largest_day_in_both_languages_stays_under_gmails_clipping_size(path, settings):
    digest = import_day(path)
    entries = email_entries_for(digest)

    rendered = render_variant(digest=digest, entry_ids=list(entries), language="both")

    assert len(entries) == 11
    assert len(personalised(rendered.html).encode()) < GMAIL_CLIP_BYTES
    assert 'style="' in rendered.html
    # Every entry is there, and the unsubscribe link is not lost at the end.
    assert all(escape(entry.title) in rendered.html for entry in entries.values())
    assert f'href="{UNSUBSCRIBE_URL_PLACEHOLDER}"' in rendered.html
    assert f"{settings.SITE_URL}/digests/{digest.date}/" in hrefs(rendered.html)


@pytest.mark.django_db
def test_the_html_shows_each_abstracts_first_sentences_and_links_to_the_paper_page_for_the_rest():
    digest = import_day(OWN_LARGE_DAY)
    entries = email_entries_for(digest)
    first = next(iter(entries.values()))

    whole_day = render_variant(digest=digest, entry_ids=list(entries), language="both")
    one_entry = render_variant(digest=digest, entry_ids=[next(iter(entries))], language="both")

    sentences = split_sentences(first.abstract)
    abstracts = [p.text_content() for p in lxml.html.fromstring(one_entry.html).find_class("abstract")]
    assert abstracts == [f"초록 \xa0{sentences[0]} {sentences[1]} 전체 초록 읽기"]  # both fit in 300
    assert first.abstract not in whole_day.html
    assert whole_day.html.count("전체 초록 읽기") == 11
    read_more = [
        a.get("href") for a in lxml.html.fromstring(whole_day.html).iter("a") if a.text == "전체 초록 읽기"
    ]
    assert read_more == [entry.archive_url for entry in entries.values()]
    # The text part has no height to save and no link to follow: it keeps every abstract whole.
    assert " ".join(first.abstract.split()) in " ".join(whole_day.text.split())  # wrapped, not cut


def test_a_short_abstract_is_shown_whole_without_a_link():
    entry = email_entry(1, abstract="We show one thing. And then a second, e.g. with Fig. 2 of Ng et al.")

    html = render([entry], "en").html

    assert "We show one thing. And then a second, e.g. with Fig. 2 of Ng et al." in html
    assert "Read the full abstract" not in html


@pytest.mark.parametrize(
    ("abstract", "lead"),
    [
        ("First one. Second one. Third one.", "First one. Second one."),
        ("We use e.g. RL, cf. Sec. 3 of Smith et al. 2020. It works. Third.", None),
        ("A. Turing showed (Fig. 1) a thing. Then 3.5% more. Then more.", None),
        ("No full stop at all", "No full stop at all"),
        ("Short. " + "Long " * 100 + "sentence.", "Short."),
    ],
)
def test_an_abstracts_lead_is_its_first_sentence_or_two(abstract, lead):
    sentences = split_sentences(abstract)
    expected = lead or " ".join(sentences[:2])

    assert abstract_lead(abstract, 300) == expected
    assert " ".join(sentences) == " ".join(abstract.split())
    assert all(not sentence.endswith(("e.g.", "cf.", "Sec.", "al.", "A.", "Fig.")) for sentence in sentences)


def test_a_first_sentence_longer_than_the_budget_is_cut_at_a_word():
    lead = abstract_lead("word " * 100 + "end. Next.", 300)

    assert len(lead) <= 300 and lead.endswith("word…")


@pytest.mark.parametrize("language", ["ko", "en", "both"])
def test_readers_who_turn_abstracts_off_get_none_in_either_part(language):
    entry = email_entry(1, abstract="A sentence about the method. Another about the results.")

    with_abstracts = render([entry], language)
    without = render([entry], language, include_abstracts=False)

    assert "A sentence about the method." in with_abstracts.html
    assert "A sentence about the method." in with_abstracts.text
    assert "A sentence about the method." not in without.html + without.text
    assert not lxml.html.fromstring(without.html).find_class("abstract")
    # The paper and its page are still a click away.
    assert entry.archive_url in hrefs(without.html) and entry.archive_url in without.text


@pytest.mark.parametrize("language", ["ko", "both"])
def test_english_blocks_in_a_korean_email_are_marked_english(language):
    rendered = render([email_entry(1)], language, intro_ko="오늘은 한 편입니다.", intro_en="One paper today.")

    page = lxml.html.fromstring(rendered.html)
    assert page.get("lang") == "ko"
    assert [h2.get("lang") for h2 in page.find_class("title")] == ["en"]
    assert [p.get("lang") for p in page.find_class("authors")] == ["en"]
    (abstract,) = page.find_class("abstract")
    assert [span.text for span in abstract.iter("span") if span.get("lang") == "en"] == [
        "Abstract of paper 1."
    ]
    assert abstract.get("lang") is None  # its label (초록) is Korean, like the page
    commentary = {div.get("lang"): div.text_content() for div in page.find_class("commentary")}
    assert "1번 논문에 대한" in commentary["ko"]
    intros = {div.get("lang"): div.text_content().strip() for div in page.find_class("intro")[0]}
    assert intros == (
        {"ko": "오늘은 한 편입니다.", "en": "One paper today."}
        if language == "both"
        else {"ko": "오늘은 한 편입니다."}
    )
    (preheader,) = page.find_class("preheader")
    assert preheader.get("lang") == "ko"
    if language == "both":
        assert "English commentary on paper 1." in commentary["en"]


def test_an_english_email_is_english_throughout():
    page = lxml.html.fromstring(render([email_entry(1, commentary_ko="")], "en", intro_en="Hello.").html)

    assert page.get("lang") == "en"
    assert {element.get("lang") for element in page.iter() if element.get("lang")} == {"en"}


def test_entries_come_in_the_given_order_and_only_those():
    entries = [email_entry(3), email_entry(1), email_entry(2)]

    rendered = render(entries[:2])

    html_positions = [rendered.html.index(f">Paper {n}</a>") for n in (3, 1)]
    text_positions = [rendered.text.index(f". Paper {n}\n") for n in (3, 1)]
    assert html_positions == sorted(html_positions)
    assert text_positions == sorted(text_positions)
    assert "Paper 2" not in rendered.html and "Paper 2" not in rendered.text
    assert "1. Paper 3" in rendered.text and "2. Paper 1" in rendered.text


@pytest.mark.parametrize(
    ("language", "korean", "english"),
    [("ko", True, False), ("en", False, True), ("both", True, True)],
)
def test_readers_get_the_commentary_of_their_language(language, korean, english):
    rendered = render([email_entry(1)], language)

    for part in (rendered.html, rendered.text):
        assert ("1번 논문에 대한 한국어 해설입니다." in part) is korean
        assert ("English commentary on paper 1." in part) is english


def test_a_variant_needs_entries_and_a_known_language():
    with pytest.raises(ValueError):
        render([])
    with pytest.raises(ValueError):
        render([email_entry(1)], "fr")


def test_a_reader_still_gets_the_other_commentary_when_theirs_is_missing():
    entry = email_entry(1, commentary_ko="")

    rendered = render([entry], "ko")

    assert "English commentary on paper 1." in rendered.html
    assert "English commentary on paper 1." in rendered.text


def test_the_subject_names_the_date_and_the_first_paper_in_the_readers_language():
    entries = [
        email_entry(1, title="First Return, Entropy-Eliciting Explore"),
        email_entry(2),
        email_entry(3),
    ]

    assert (
        render(entries, "ko").subject
        == "[Research Digest] 7월 10일: First Return, Entropy-Eliciting Explore 외 2편"
    )
    # A reader of both languages reads both in the subject too.
    assert (
        render(entries, "both").subject
        == "[Research Digest] 7월 10일 · Jul 10: First Return, Entropy-Eliciting Explore 외 2편 · and 2 more"
    )
    assert render(entries[:1], "both").subject == (
        "[Research Digest] 7월 10일 · Jul 10: First Return, Entropy-Eliciting Explore"
    )
    assert (
        render(entries, "en").subject
        == "[Research Digest] Jul 10: First Return, Entropy-Eliciting Explore and 2 more"
    )
    assert (
        render(entries[:1], "en").subject
        == "[Research Digest] Jul 10: First Return, Entropy-Eliciting Explore"
    )


def test_a_long_title_is_cut_with_an_ellipsis_and_a_subject_is_one_line():
    title = "A Very Long Title About Reinforcement Learning " * 6
    entries = [email_entry(1, title=title + "\r\nBcc: evil@example.com"), email_entry(2)]

    subject = render(entries, "en").subject

    assert len(subject) <= 150
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[Research Digest] Jul 10: A Very Long Title About")
    assert subject.endswith("… and 1 more")


def test_each_entry_links_to_its_archive_page_and_to_the_paper():
    entries = [email_entry(1), email_entry(2)]

    rendered = render(entries)

    links = hrefs(rendered.html)
    for entry in entries:
        assert entry.archive_url in links
        assert entry.paper_url in links
        assert entry.archive_url in rendered.text
        assert entry.paper_url in rendered.text


def test_reader_placeholders_survive_css_inlining_in_both_parts():
    rendered = render([email_entry(1)])

    assert UNSUBSCRIBE_URL_PLACEHOLDER in hrefs(rendered.html)
    assert PREFERENCES_URL_PLACEHOLDER in hrefs(rendered.html)
    assert UNSUBSCRIBE_URL_PLACEHOLDER in rendered.text
    assert PREFERENCES_URL_PLACEHOLDER in rendered.text


def test_the_html_is_inlined_keeps_dark_mode_and_phone_rules_and_korean_typography():
    html = render([email_entry(1)]).html

    body_style = lxml.html.fromstring(html).body.get("style")
    assert re.search(r"word-break:\s*keep-all", body_style)
    assert "Apple SD Gothic Neo" in body_style and "Noto Sans KR" in body_style
    style_block = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    assert "@media (prefers-color-scheme: dark)" in style_block
    assert "@media (max-width: 480px)" in style_block
    assert "!important" in style_block
    assert '<meta name="viewport"' in html
    assert html.lower().startswith("<!doctype html>")


def test_titles_authors_and_tags_are_escaped_in_the_html():
    entry = email_entry(
        1, title="Attention & <Memory>", authors=("<script>alert(1)</script>",), tags=("<b>",)
    )

    rendered = render([entry])

    assert "Attention &amp; &lt;Memory&gt;" in rendered.html
    assert "<script>" not in rendered.html and "<b>" not in rendered.html
    # The text part is not HTML: no entities in what the reader reads.
    assert "Attention & <Memory>" in rendered.text


def test_commentary_links_are_clickable_in_the_html_and_plain_in_the_text():
    entry = email_entry(1, commentary_en="See (https://arxiv.org/abs/2506.01939) for more.")

    rendered = render([entry], "en")

    assert "https://arxiv.org/abs/2506.01939" in hrefs(rendered.html)
    assert "See (https://arxiv.org/abs/2506.01939) for more." in rendered.text


def test_the_intro_of_the_readers_language_comes_first():
    rendered = render([email_entry(1)], "en", intro_ko="오늘의 소개", intro_en="Today's **intro**")

    assert "<strong>intro</strong>" in rendered.html
    assert "오늘의 소개" not in rendered.html
    assert rendered.text.index("Today's **intro**") < rendered.text.index("Paper 1")


@pytest.mark.parametrize("language", ["ko", "en", "both"])
def test_the_text_part_of_a_small_variant_reads_as_written(language):
    entries = [
        email_entry(
            1,
            title="First Return, Entropy-Eliciting Explore",
            commentary_ko="엔트로피가 높은 토큰이 분기점이라는 연구군요.\n\n두 번째 문단입니다.",
            commentary_en="High-entropy tokens are branching points.\n\nA second paragraph.",
        ),
        email_entry(2, tags=("efficiency",)),
    ]

    text = render(entries, language, intro_ko="오늘은 두 편입니다.", intro_en="Two papers today.").text

    golden = GOLDEN_DIR / f"digest-small-{language}.txt"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.django_db
def test_email_entries_for_a_digest_take_two_queries_whatever_the_number_of_entries(
    django_assert_num_queries, settings
):
    settings.SITE_URL = "https://digest.example.com"
    digest = make_digest("2025-07-10")
    for position in range(6):
        make_entry(
            digest=digest, position=5 - position, title=f"Paper {position}", arxiv_id=f"2507.0{position}"
        )
    make_entry(digest=digest, position=9, title="No id", tags=("rl", "state-space-model"))

    with django_assert_num_queries(2):
        entries = email_entries_for(digest)

    titles = [entry.title for entry in entries.values()]
    assert titles == ["Paper 5", "Paper 4", "Paper 3", "Paper 2", "Paper 1", "Paper 0", "No id"]
    last = list(entries.values())[-1]
    assert last.tags == ("rl", "state-space-model")
    assert entries[digest.ordered_entries().get(arxiv_id="2507.00").pk].archive_url == (
        "https://digest.example.com/papers/2507.00/"
    )
    assert last.archive_url == "https://digest.example.com/papers/no-id/"
    assert last.paper_url.startswith("https://arxiv.org/search/?")


def test_a_test_send_is_marked_in_the_subject_and_both_bodies():
    from newsletters.mail.rendering import mark_as_test

    rendered = mark_as_test(render([email_entry(1, title="First paper")], "en"))

    assert rendered.subject.startswith("[TEST] [Research Digest] Jul 10: First paper")
    assert rendered.text.startswith("*** TEST SEND")
    assert rendered.html.index('class="test-banner"') > rendered.html.index("<body")
