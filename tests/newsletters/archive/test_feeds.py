"""RSS and Atom feeds, for every digest and for each tag, as a feed reader (feedparser) reads them."""

import datetime

import feedparser
import pytest

from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT
SITE = "https://digest.example.org"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE


@pytest.fixture
def days() -> None:
    older = make_digest(
        "2025-07-09", status=SENT, sent_at=datetime.datetime(2025, 7, 8, 22, 0, tzinfo=datetime.UTC)
    )
    newer = make_digest("2025-07-10", status=SENT, intro_en="Two papers today.")
    draft = make_digest("2025-07-11")
    make_entry(
        digest=older,
        title="A Systematic Analysis of Hybrid Linear Attention",
        authors=["Dustin Wang", "Jason Eshraghian"],
        commentary_en="Selective gating matters.",
        tags=("state-space-model",),
    )
    fr3e = make_entry(
        digest=newer,
        position=1,
        title="First Return, Entropy-Eliciting Explore",
        authors=["Tianyu Zheng", "Yang (Katie)Zhao"],
        arxiv_id="2507.07017",
        commentary_ko="엔트로피가 높은 토큰이 분기점이군요 (https://arxiv.org/abs/2506.01939).",
        commentary_en="High-entropy tokens are *branching points*.",
        tags=("rl", "reasoning"),
    )
    fr3e.set_tags(["rl", "reasoning"])
    make_entry(digest=newer, position=2, title="Another RL paper", tags=("rl",))
    make_entry(
        digest=newer, position=3, title="Half-written RL paper", status=Entry.Status.DRAFT, tags=("rl",)
    )
    make_entry(digest=draft, title="Tomorrow's RL paper", tags=("rl",))


def parse(client, url: str) -> feedparser.FeedParserDict:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


@pytest.mark.parametrize(("url", "version"), [("/feeds/rss/", "rss20"), ("/feeds/atom/", "atom10")])
def test_the_digest_feed_has_one_item_per_sent_day_newest_first(client, days, url, version):
    feed = parse(client, url)

    assert feed.version == version
    assert feed.feed.title == "Research Digest"
    assert feed.feed.link == f"{SITE}/"
    assert [item.link for item in feed.entries] == [
        f"{SITE}/digests/2025-07-10/",
        f"{SITE}/digests/2025-07-09/",
    ]
    assert feed.entries[0].title == "July 10, 2025: 2 papers"
    body = feed.entries[0].summary
    assert "Two papers today." in body
    assert "First Return, Entropy-Eliciting Explore" in body and "Another RL paper" in body
    assert "엔트로피가 높은 토큰이 분기점이군요" in body
    assert "<em>branching points</em>" in body
    assert f'href="{SITE}/papers/2507.07017/"' in body
    assert "Half-written" not in body and "Tomorrow" not in body
    assert {tag.term for tag in feed.entries[0].tags} == {"rl", "reasoning"}
    assert feed.entries[1].published_parsed[:5] == (2025, 7, 8, 22, 0)


@pytest.mark.parametrize(("url", "version"), [("/tags/rl/rss/", "rss20"), ("/tags/rl/atom/", "atom10")])
def test_a_tag_feed_has_that_tags_published_entries(client, days, url, version):
    feed = parse(client, url)

    assert feed.version == version
    assert feed.feed.title == "Research Digest: #rl"
    assert feed.feed.link == f"{SITE}/tags/rl/"
    assert [item.title for item in feed.entries] == [
        "First Return, Entropy-Eliciting Explore",
        "Another RL paper",
    ]
    first = feed.entries[0]
    assert first.link == f"{SITE}/papers/2507.07017/"
    assert "Tianyu Zheng, Yang (Katie)Zhao" in first.author
    assert "High-entropy tokens are <em>branching points</em>." in first.summary
    assert '<a href="https://arxiv.org/abs/2506.01939"' in first.summary
    assert [tag.term for tag in first.tags] == ["rl", "reasoning"]


def test_a_feed_for_another_tag_holds_only_its_entries(client, days):
    feed = parse(client, "/tags/state-space-model/atom/")

    assert [item.title for item in feed.entries] == ["A Systematic Analysis of Hybrid Linear Attention"]


def test_a_feed_for_an_unknown_tag_is_404(client, days):
    assert client.get("/tags/no-such-tag/rss/").status_code == 404


def test_feeds_of_an_empty_site_are_valid_and_empty(client):
    assert parse(client, "/feeds/rss/").entries == []
    assert parse(client, "/feeds/atom/").entries == []


def test_item_ids_are_stable_permalinks(client, days):
    first = parse(client, "/feeds/atom/")
    second = parse(client, "/feeds/atom/")

    assert [item.id for item in first.entries] == [item.id for item in second.entries]
    assert first.entries[0].id == f"{SITE}/digests/2025-07-10/"
