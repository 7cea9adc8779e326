"""Fast and light: bounded queries whatever the number of entries, small pages, cached commentary."""

import datetime
import re
import uuid

import pytest
from django.core.cache import cache

from newsletters import rendering
from newsletters.models import Digest
from newsletters.templatetags.commentary import commentary_cache_key, render_markdown_cached
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT
# A long real day: FR3E's abstract and commentary lengths, from the 2025-07-10 sample.
ABSTRACT = (
    "Reinforcement Learning from Verifiable Rewards (RLVR) improves the reasoning abilities of Large "
    "Language Models (LLMs) but it struggles with unstable exploration. "
) * 6
COMMENTARY_KO = (
    "엔트로피가 높은 토큰이 보통 분기점이므로 그 지점에서 추가적인 롤아웃을 생성해서 "
    "탐색을 촉진할 수 있다는 연구군요 (https://arxiv.org/abs/2506.01939).\n\n"
) * 2
COMMENTARY_EN = (
    "This study explores enhancing exploration by generating additional rollouts at tokens "
    "with high entropy (https://arxiv.org/abs/2506.01939).\n\n"
) * 2
AUTHORS = [f"Author Number{n} (Lab {n})" for n in range(14)]


def fill_digest(date: str, count: int, tags: tuple[str, ...] = ("rl", "reasoning")) -> Digest:
    digest = make_digest(date, status=SENT)
    for position in range(count):
        make_entry(
            digest=digest,
            position=position,
            title=f"Paper {position} on Hybrid Linear Attention and Entropy-Eliciting Exploration",
            authors=AUTHORS,
            abstract=ABSTRACT,
            commentary_ko=COMMENTARY_KO + str(position),
            commentary_en=COMMENTARY_EN + str(position),
            tags=tags,
        )
    return digest


def queries_for(client, django_assert_max_num_queries, url: str, limit: int) -> None:
    # Twice: a cold cache (render, then store: ~6 queries on the database cache) and a warm one.
    for _ in range(2):
        with django_assert_max_num_queries(limit):
            assert client.get(url).status_code == 200


@pytest.mark.parametrize("count", [3, 40])
def test_digest_and_home_pages_use_a_bounded_number_of_queries(client, django_assert_max_num_queries, count):
    fill_digest("2025-07-09", 2)
    fill_digest("2025-07-10", count)

    queries_for(client, django_assert_max_num_queries, "/digests/2025-07-10/", 12)
    queries_for(client, django_assert_max_num_queries, "/", 10)


@pytest.mark.parametrize("count", [3, 40])
def test_paper_tag_search_and_archive_pages_use_a_bounded_number_of_queries(
    client, django_assert_max_num_queries, count
):
    digest = fill_digest("2025-07-10", count)
    start = datetime.date(2025, 1, 1)
    for day in range(count):
        make_entry(digest=make_digest(start + datetime.timedelta(days=day), status=SENT), tags=("rl",))
    paper = digest.ordered_entries().first()

    queries_for(client, django_assert_max_num_queries, paper.get_absolute_url(), 10)
    queries_for(client, django_assert_max_num_queries, "/tags/rl/", 6)
    queries_for(client, django_assert_max_num_queries, "/tags/", 3)
    queries_for(client, django_assert_max_num_queries, "/search/?q=entropy", 6)
    queries_for(client, django_assert_max_num_queries, "/archive/", 4)


@pytest.mark.parametrize("count", [3, 40])
def test_feeds_and_sitemap_use_a_bounded_number_of_queries(client, django_assert_max_num_queries, count):
    for day in range(1, 4):
        fill_digest(f"2025-07-0{day}", count)

    queries_for(client, django_assert_max_num_queries, "/feeds/rss/", 10)
    queries_for(client, django_assert_max_num_queries, "/tags/rl/atom/", 10)
    queries_for(client, django_assert_max_num_queries, "/sitemap.xml", 6)


def test_a_long_day_page_stays_under_100_kb(client):
    # The longest sample day has 11 entries; allow for a bigger one.
    fill_digest("2025-07-10", 15)

    for url in ("/digests/2025-07-10/", "/"):
        size = len(client.get(url).content)
        assert size < 100 * 1024, f"{url} is {size} bytes"


def test_pages_load_nothing_from_other_hosts(client):
    fill_digest("2025-07-10", 2)

    html = client.get("/").content.decode()

    assets = re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="([^"]+)"', html)
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert stylesheets == ["/static/site.css"]
    # Only canonical/alternate links may be absolute, and they point at SITE_URL.
    assert all(
        not url.startswith(("http:", "https:", "//")) or url.startswith("http://127.0.0.1:8000/")
        for url in assets
    )


def test_commentary_is_served_from_the_cache(client):
    # Unique text so that no other test (or a shared Redis) holds this key.
    marker = uuid.uuid4().hex
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=digest, commentary_ko=f"한국어 {marker}", commentary_en=f"English {marker}")
    texts = [f"한국어 {marker}", f"English {marker}", "", ""]  # then the intro in both languages

    client.get(digest.get_absolute_url())
    key = commentary_cache_key(texts)
    assert cache.get(key) == [f"<p>한국어 {marker}</p>", f"<p>English {marker}</p>", "", ""]

    cache.set(key, ["<p>FROM THE CACHE KO</p>", "<p>FROM THE CACHE EN</p>", "", ""])
    try:
        html = client.get(digest.get_absolute_url()).content.decode()
    finally:
        cache.delete(key)
    assert "FROM THE CACHE KO" in html and "FROM THE CACHE EN" in html


def test_an_edited_commentary_shows_at_once(client):
    digest = make_digest("2025-07-10", status=SENT)
    entry = make_entry(digest=digest, commentary_en="Teh first version.")
    client.get(digest.get_absolute_url())

    entry.commentary_en = "The corrected version."
    entry.save()

    html = client.get(digest.get_absolute_url()).content.decode()
    assert "The corrected version." in html and "Teh first version." not in html


def test_a_failed_commentary_render_is_shown_as_text_and_not_cached(monkeypatch):
    marker = uuid.uuid4().hex
    texts = [f"*한국어* {marker}", f"*English* {marker}"]

    def broken(*args, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(rendering, "markdown_to_html_with_extensions", broken)
    assert render_markdown_cached(texts) == [f"<p>*한국어* {marker}</p>", f"<p>*English* {marker}</p>"]
    assert cache.get(commentary_cache_key(texts)) is None

    monkeypatch.undo()
    try:
        assert render_markdown_cached(texts)[1] == f"<p><em>English</em> {marker}</p>"
        assert cache.get(commentary_cache_key(texts)) is not None
    finally:
        cache.delete(commentary_cache_key(texts))
