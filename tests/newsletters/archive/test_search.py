"""Search over titles, authors, abstracts and both commentaries, on PostgreSQL and SQLite alike."""

import pytest
from django.db import connection

from newsletters.archive.search import MAX_QUERY_LENGTH, clean_query, search_entries, search_terms
from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")


@pytest.fixture
def papers() -> dict[str, Entry]:
    digest = make_digest("2025-07-10", status=SENT)
    return {
        "fr3e": make_entry(
            digest=digest,
            position=1,
            title="First Return, Entropy-Eliciting Explore",
            authors=["Tianyu Zheng", "Yang (Katie)Zhao"],
            abstract="A structured exploration framework for reasoning trajectories.",
            commentary_ko="엔트로피가 높은 토큰이 분기점이므로 탐색을 촉진할 수 있다는 연구군요.",
            commentary_en="Rollouts at high-entropy tokens encourage exploration.",
        ),
        "hybrid": make_entry(
            digest=digest,
            position=2,
            title="A Systematic Analysis of Hybrid Linear Attention",
            authors=["Dustin Wang", "Jason Eshraghian"],
            abstract="Transformers face quadratic complexity with long sequences.",
            commentary_ko="선형 어텐션과 전체 어텐션을 섞는 비율을 살펴본 논문.",
            commentary_en="Selective gating matters most in hybrids.",
        ),
    }


def found(query: str) -> list[str]:
    return [entry.title for entry in search_entries(query)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Entropy-Eliciting", "First Return, Entropy-Eliciting Explore"),  # title
        ("eshraghian", "A Systematic Analysis of Hybrid Linear Attention"),  # author
        ("Katie", "First Return, Entropy-Eliciting Explore"),  # author with parentheses
        ("quadratic", "A Systematic Analysis of Hybrid Linear Attention"),  # abstract
        ("gating", "A Systematic Analysis of Hybrid Linear Attention"),  # English commentary
        ("분기점이므로", "First Return, Entropy-Eliciting Explore"),  # Korean commentary
        ("어텐션과", "A Systematic Analysis of Hybrid Linear Attention"),
    ],
)
def test_it_finds_papers_by_any_of_their_text(papers, query, expected):
    assert found(query) == [expected]


def test_every_word_must_match(papers):
    assert found("exploration quadratic") == []
    assert found("exploration entropy") == ["First Return, Entropy-Eliciting Explore"]


def test_a_korean_word_matches_with_a_particle_attached(papers):
    # "연구" stands in the text as "연구군요": no Korean stemmer, but a prefix match finds it.
    assert found("연구") == ["First Return, Entropy-Eliciting Explore"]


def test_drafts_are_never_found(papers):
    make_entry(digest=make_digest("2025-07-11"), title="Secret entropy paper")
    make_entry(digest=papers["fr3e"].digest, title="Half-written entropy paper", status=Entry.Status.DRAFT)

    assert found("entropy") == ["First Return, Entropy-Eliciting Explore"]


def test_a_query_with_only_punctuation_or_operators_finds_nothing_and_does_not_fail(papers):
    for query in ("", "   ", "&|!():*'", "<->", "\\"):
        assert found(query) == []


def test_operator_characters_around_words_are_ignored(papers):
    assert found("entropy:* & !") == ["First Return, Entropy-Eliciting Explore"]


@on_postgresql
def test_on_postgresql_english_words_match_their_other_forms(papers):
    # "explores" and "explored" share the stem of "exploration"; a substring match would miss them.
    assert found("explores") == ["First Return, Entropy-Eliciting Explore"]
    assert found("sequence") == ["A Systematic Analysis of Hybrid Linear Attention"]


@on_postgresql
def test_on_postgresql_a_title_match_ranks_above_a_commentary_match(papers):
    make_entry(
        digest=papers["fr3e"].digest,
        position=3,
        title="Gating Is All You Need",
        commentary_en="About gates.",
    )

    assert found("gating") == ["Gating Is All You Need", "A Systematic Analysis of Hybrid Linear Attention"]


def test_search_page_lists_matches_with_links_and_a_count(client, papers):
    response = client.get("/search/", {"q": "exploration"}, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 200
    assert "1 paper matches “exploration”." in html
    assert f'href="{papers["fr3e"].get_absolute_url()}"' in html
    assert "Hybrid Linear Attention" not in html
    assert 'value="exploration"' in html


def test_search_page_without_a_query_shows_just_the_form(client, papers):
    response = client.get("/search/", HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert '<label for="search-q">' in html
    assert "matches" not in html and "Hybrid Linear Attention" not in html


def test_search_page_escapes_the_query(client, papers):
    html = client.get("/search/", {"q": '<script>alert("x")</script>'}).content.decode()

    assert "<script>alert" not in html


@pytest.mark.parametrize("query", ["explo\x00ration", "\x00", "a\x00b\x01c\x7f", "exploration\x1b[31m"])
def test_control_characters_in_a_query_never_fail_the_page(client, papers, query):
    response = client.get("/search/", {"q": query}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "\x00" not in response.content.decode()


def test_control_characters_separate_words():
    assert clean_query("explo\x00ration\tand\n  more") == "explo ration and more"
    assert search_terms("entropy\x00tokens") == ["entropy", "tokens"]
    assert clean_query("\ud800x\u200b\ue000y") == "x y"


def test_a_long_query_is_cut_to_the_limit(client, papers):
    assert len(clean_query("exploration " * 1000)) <= MAX_QUERY_LENGTH
    assert found("exploration " * 1000) == ["First Return, Entropy-Eliciting Explore"]

    response = client.get("/search/", {"q": "x" * 100_000})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "No papers match “zyzzyva”."), ("ko", "“zyzzyva”에 맞는 논문이 없습니다.")],
)
def test_a_search_with_no_results_says_so_in_the_readers_language(client, papers, language, message):
    html = client.get("/search/", {"q": "zyzzyva"}, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert message in html
    assert 'href="/tags/"' in html
    assert "0 papers match" not in html


def test_only_the_first_part_of_a_huge_field_is_searched(papers):
    digest = Digest.objects.get()
    make_entry(digest=digest, position=3, title="Huge", commentary_en="filler " * 20_000 + "needleword")

    assert found("needleword") == []
    assert found("Huge") == ["Huge"]


@on_postgresql
def test_on_postgresql_the_stored_document_follows_edits(papers):
    entry = papers["hybrid"]
    entry.title = "Mamba Meets Attention"
    entry.save()

    assert found("Mamba") == ["Mamba Meets Attention"]
    assert found("Systematic") == []


@on_postgresql
def test_on_postgresql_search_reads_the_stored_gin_indexed_document(papers):
    with connection.cursor() as cursor:
        sql, params = search_entries("exploration").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'newsletters_entry_search_document_gin'"
        )
        [(index,)] = cursor.fetchall()

    assert "search_document @@" in plan
    assert "to_tsvector" not in plan  # nothing is computed per row at query time
    assert "USING gin (search_document)" in index


@on_postgresql
def test_on_postgresql_an_entry_too_big_for_one_tsvector_is_still_saved_and_found(papers):
    digest = Digest.objects.get()
    words = " ".join(f"w{n}x{n * 7919 % 100_003}" for n in range(120_000))  # ~1.5 MB of distinct words

    entry = make_entry(
        digest=digest, position=3, title="Enormous Survey", abstract=words, commentary_en=words
    )

    assert Entry.objects.filter(pk=entry.pk).exists()
    assert found("Enormous") == ["Enormous Survey"]
