"""What search engines and link previews read: canonical links, Open Graph, hreflang, JSON-LD, sitemap."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from newsletters.models import Digest
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT
SITE = "https://digest.example.org"
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE


def meta(html: str, prop: str) -> str:
    match = re.search(rf'<meta (?:property|name)="{re.escape(prop)}" content="([^"]*)">', html)
    assert match, f"no {prop} meta tag"
    return match.group(1)


def test_digest_page_has_canonical_open_graph_and_hreflang_alternates(client):
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=digest, title="First Return, Entropy-Eliciting Explore")

    html = client.get("/digests/2025-07-10/?lang=en", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f'<link rel="canonical" href="{SITE}/digests/2025-07-10/">' in html
    assert meta(html, "og:url") == f"{SITE}/digests/2025-07-10/"
    assert meta(html, "og:type") == "article"
    assert meta(html, "og:title") == "Research digest of July 10, 2025"
    assert "First Return, Entropy-Eliciting Explore" in meta(html, "og:description")
    assert meta(html, "og:locale") == "en_US"
    assert f'<link rel="alternate" hreflang="ko" href="{SITE}/digests/2025-07-10/?lang=ko">' in html
    assert f'<link rel="alternate" hreflang="en" href="{SITE}/digests/2025-07-10/?lang=en">' in html
    assert f'<link rel="alternate" hreflang="x-default" href="{SITE}/digests/2025-07-10/">' in html


def test_every_page_advertises_the_feeds(client):
    make_entry(digest=make_digest("2025-07-10", status=SENT), tags=("rl",))

    home = client.get("/").content.decode()
    tag = client.get("/tags/rl/").content.decode()

    assert '<link rel="alternate" type="application/rss+xml"' in home
    assert 'type="application/atom+xml" title="Research Digest (Atom)" href="/feeds/atom/"' in home
    assert 'type="application/rss+xml" title="#rl (RSS)" href="/tags/rl/rss/"' in tag


def test_paper_page_carries_scholarly_article_json_ld(client):
    digest = make_digest("2025-07-10", status=SENT)
    entry = make_entry(
        digest=digest,
        title="Breaking </script> Titles & More",
        authors=["Ada Lovelace", "Yang (Katie)Zhao"],
        abstract="We study things.",
        arxiv_id="2507.07017",
        tags=("rl", "reasoning"),
    )
    entry.set_tags(["rl", "reasoning"])

    html = client.get("/papers/2507.07017/").content.decode()

    scripts = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, flags=re.S)
    assert len(scripts) == 1
    data = json.loads(scripts[0])
    assert data["@type"] == "ScholarlyArticle"
    assert data["name"] == "Breaking </script> Titles & More"
    assert [author["name"] for author in data["author"]] == ["Ada Lovelace", "Yang (Katie)Zhao"]
    assert data["abstract"] == "We study things."
    assert data["url"] == f"{SITE}/papers/2507.07017/"
    assert data["sameAs"] == "https://arxiv.org/abs/2507.07017"
    assert data["identifier"]["value"] == "2507.07017"
    assert data["datePublished"] == "2025-07-10"
    assert data["keywords"] == ["rl", "reasoning"]
    assert meta(html, "og:type") == "article"
    assert f'<link rel="canonical" href="{SITE}/papers/2507.07017/">' in html


def test_sitemap_lists_published_pages_on_the_site_url_and_nothing_else(client):
    digest = make_digest("2025-07-10", status=SENT)
    paper = make_entry(digest=digest, arxiv_id="2507.07017", tags=("rl",))
    slugged = make_entry(digest=digest, title="No arXiv Id Here", tags=("rl",))
    draft = make_digest("2025-07-11")
    make_entry(digest=draft, arxiv_id="2507.99999", tags=("secret-topic",))

    response = client.get("/sitemap.xml", HTTP_HOST="127.0.0.1")

    assert response.status_code == 200
    locations = {loc.text for loc in ET.fromstring(response.content).findall("sm:url/sm:loc", SITEMAP_NS)}
    assert {
        f"{SITE}/",
        f"{SITE}/archive/",
        f"{SITE}/tags/",
        f"{SITE}/digests/2025-07-10/",
        f"{SITE}{paper.get_absolute_url()}",
        f"{SITE}/papers/no-arxiv-id-here/",
        f"{SITE}/tags/rl/",
    } == locations
    assert slugged.slug == "no-arxiv-id-here"


def test_robots_txt_points_to_the_sitemap(client):
    response = client.get("/robots.txt")

    assert response["Content-Type"].startswith("text/plain")
    assert f"Sitemap: {SITE}/sitemap.xml" in response.content.decode()
