"""Feeds that validate: RFC 4287's schema, an author for every entry, dates by day, language declared.

Atom feeds are checked against RFC 4287's RELAX NG schema (tests/data/atom/atom.rng, converted
from Appendix B's atom.rnc) and the two Schematron rules that schema carries as annotations;
every feed, RSS included, must also parse in feedparser without bozo.
"""

import datetime

import feedparser
import lxml.etree
import pytest
import time_machine

from newsletters.models import Digest
from tests.conftest import DATA_DIR
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT
SITE = "https://digest.example.org"
ATOM = {"atom": "http://www.w3.org/2005/Atom"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_SCHEMA = lxml.etree.RelaxNG(lxml.etree.parse(str(DATA_DIR / "atom" / "atom.rng")))
KST = datetime.timezone(datetime.timedelta(hours=9))
FEEDS = ["/feeds/rss/", "/feeds/atom/", "/tags/rl/rss/", "/tags/rl/atom/"]


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE
    settings.DIGEST_SEND_TIME = datetime.time(7, 0)
    settings.TIME_ZONE = "Asia/Seoul"


@pytest.fixture
def days() -> None:
    """Two sent days, the older one written and sent late (after the newer one went out)."""
    with time_machine.travel(datetime.datetime(2025, 7, 10, 6, 0, tzinfo=KST), tick=False):
        newer = make_digest(
            "2025-07-10", status=SENT, sent_at=datetime.datetime(2025, 7, 10, 7, 1, tzinfo=KST)
        )
        make_entry(
            digest=newer, position=1, title="First Return, Entropy-Eliciting Explore", arxiv_id="2507.07017"
        )
        make_entry(digest=newer, position=2, title="A paper nobody signed", authors=[])
    with time_machine.travel(datetime.datetime(2025, 7, 12, 9, 0, tzinfo=KST), tick=False):
        older = make_digest(
            "2025-07-09",
            status=SENT,
            sent_at=datetime.datetime(2025, 7, 12, 9, 30, tzinfo=KST),
            intro_ko="늦었습니다.",
        )
        make_entry(digest=older, title="A Systematic Analysis of Hybrid Linear Attention")


def get(client, url: str, language: str = "en") -> bytes:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content


def schema_errors(content: bytes) -> list[str]:
    """What RFC 4287 (its RELAX NG grammar and its two Schematron rules) finds wrong with an Atom document."""
    document = lxml.etree.fromstring(content)
    errors = [] if ATOM_SCHEMA.validate(document) else [str(error) for error in ATOM_SCHEMA.error_log]
    feed_has_author = bool(document.xpath("atom:author", namespaces=ATOM))
    for entry in document.xpath("atom:entry", namespaces=ATOM):
        if not feed_has_author and not entry.xpath("atom:author or atom:source/atom:author", namespaces=ATOM):
            errors.append("an atom:entry has no atom:author and neither has its feed")
        if not entry.xpath(
            "atom:link[@rel='alternate'] or atom:link[not(@rel)] or atom:content", namespaces=ATOM
        ):
            errors.append("an atom:entry has neither an alternate link nor content")
    return errors


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("url", FEEDS)
def test_every_feed_parses_without_bozo_and_every_atom_feed_passes_rfc_4287(client, days, url, language):
    content = get(client, url, language)

    feed = feedparser.parse(content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) >= 2
    if url.endswith("/atom/"):
        assert schema_errors(content) == []


@pytest.mark.parametrize("url", ["/feeds/atom/", "/tags/rl/atom/"])
def test_feeds_of_an_empty_site_pass_rfc_4287(client, url):
    if url.startswith("/tags/"):
        make_entry(tags=("rl",))  # the tag exists, nothing with it is published
    assert schema_errors(get(client, url)) == []


def test_the_schema_check_catches_a_feed_without_an_author(client, days):
    """The check itself can fail: Django's Atom feed as it was, with no feed author, is refused."""
    content = get(client, "/feeds/atom/")
    document = lxml.etree.fromstring(content)
    for author in document.xpath("atom:author", namespaces=ATOM):
        document.remove(author)

    assert (
        schema_errors(lxml.etree.tostring(document))
        == ["an atom:entry has no atom:author and neither has its feed"] * 2
    )


def test_the_schema_check_catches_a_date_that_is_not_rfc_3339(client, days):
    document = lxml.etree.fromstring(get(client, "/feeds/atom/"))
    document.xpath("atom:updated", namespaces=ATOM)[0].text = "Thu, 10 Jul 2025 07:00:00 +0900"

    assert schema_errors(lxml.etree.tostring(document))


@pytest.mark.parametrize("url", ["/feeds/atom/", "/tags/rl/atom/"])
def test_atom_feeds_name_the_site_as_author_and_entries_without_authors_inherit_it(client, days, url):
    document = lxml.etree.fromstring(get(client, url))

    assert document.xpath("atom:author/atom:name/text()", namespaces=ATOM) == ["Research Digest"]
    assert document.xpath("atom:author/atom:uri/text()", namespaces=ATOM) == [f"{SITE}/"]
    # No entry says it was written by nobody.
    assert document.xpath("atom:entry/atom:author[not(normalize-space(atom:name))]", namespaces=ATOM) == []
    # Entries without their own atom:author inherit the feed's (RFC 4287 4.2.1): every day of the
    # digest feed, and the tag feed's paper with no authors.
    entries = document.xpath("atom:entry", namespaces=ATOM)
    unsigned = [
        entry.findtext("atom:title", namespaces=ATOM)
        for entry in entries
        if not entry.xpath("atom:author", namespaces=ATOM)
    ]
    if url.startswith("/tags/"):
        assert unsigned == ["A paper nobody signed"]
    else:
        assert len(unsigned) == len(entries) == 2


def at(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


def test_days_are_dated_by_their_date_not_by_when_they_were_sent(client, days):
    feed = feedparser.parse(get(client, "/feeds/atom/"))

    # The older day, sent two days late, stays behind the newer one, dated 07:00 KST on its day.
    assert [entry.link for entry in feed.entries] == [
        f"{SITE}/digests/2025-07-10/",
        f"{SITE}/digests/2025-07-09/",
    ]
    older = feed.entries[1]
    assert at(older.published) == at("2025-07-09T07:00:00+09:00")
    assert at(older.updated) == at("2025-07-09T07:00:00+09:00")  # written and sent late, not edited since
    assert feedparser.parse(get(client, "/feeds/rss/")).entries[1].published_parsed[:4] == (2025, 7, 8, 22)


def test_an_edit_after_the_send_updates_the_item_and_keeps_its_date(client, days):
    entry = Digest.objects.get(date="2025-07-10").entries.get(title="A paper nobody signed")
    with time_machine.travel(datetime.datetime(2025, 7, 15, 12, 0, tzinfo=KST), tick=False):
        entry.commentary_en = "A typo fixed."
        entry.save()

    digests = feedparser.parse(get(client, "/feeds/atom/"))
    tagged = feedparser.parse(get(client, "/tags/rl/atom/"))

    assert at(digests.entries[0].published) == at("2025-07-10T07:00:00+09:00")
    assert at(digests.entries[0].updated) == at("2025-07-15T12:00:00+09:00")
    assert at(digests.feed.updated) == at("2025-07-15T12:00:00+09:00")
    by_title = {item.title: item for item in tagged.entries}
    assert at(by_title["A paper nobody signed"].updated) == at("2025-07-15T12:00:00+09:00")
    assert at(by_title["First Return, Entropy-Eliciting Explore"].updated) == at("2025-07-10T07:00:00+09:00")


@pytest.mark.parametrize("language", ["ko", "en"])
def test_feeds_declare_the_language_they_are_in(client, days, language):
    rss = lxml.etree.fromstring(get(client, "/feeds/rss/", language))
    atom = lxml.etree.fromstring(get(client, "/feeds/atom/", language))

    assert rss.findtext("channel/language") == language
    assert atom.get(XML_LANG) == language
    title = atom.xpath("atom:entry/atom:title/text()", namespaces=ATOM)[0]
    assert title == ("2025년 7월 10일: 논문 2편" if language == "ko" else "July 10, 2025: 2 papers")


def test_english_titles_in_a_korean_feed_are_marked_english(client, days):
    tagged = lxml.etree.fromstring(get(client, "/tags/rl/atom/", "ko"))
    digests = lxml.etree.fromstring(get(client, "/feeds/atom/", "ko"))

    assert tagged.get(XML_LANG) == "ko"
    assert {entry.get(XML_LANG) for entry in tagged.xpath("atom:entry", namespaces=ATOM)} == {"en"}
    body = digests.xpath("atom:entry/atom:summary/text()", namespaces=ATOM)[0]
    assert '<h2 lang="en"><a href="https://digest.example.org/papers/2507.07017/">First Return' in body
    assert '<div lang="ko"><p>흥미로운 연구네요.</p></div>' in body
