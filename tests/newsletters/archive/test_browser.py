"""A reader's walk through the public site in headless Chromium, with a screenshot of every page.

Screenshots land in test-artifacts/ (git-ignored) for a person to look at.
"""

import datetime
import json
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from newsletters.authoring.importing import import_digest_text
from newsletters.models import Digest, Entry
from tests.conftest import SAMPLE_CONTENT, SHARED_SAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# axe-core's WCAG 2.x A and AA rules: labels, landmarks, names, contrast, lang attributes.
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def sample_files() -> list[Path]:
    """The real sample days (../shared/samples), else the repository's sample content."""
    files = sorted(SHARED_SAMPLES.glob("digest-*.txt")) if SHARED_SAMPLES.is_dir() else []
    return files or sorted(SAMPLE_CONTENT.glob("digest-*.txt"))


@pytest.fixture
def published_days() -> list[Digest]:
    files = sample_files()
    assert files, "no sample digests to show"
    digests = []
    for path in files:
        digest = import_digest_text(path.read_bytes(), filename=str(path)).digest
        digest.status = Digest.Status.SENT
        digest.sent_at = datetime.datetime.combine(digest.date, datetime.time(7), tzinfo=datetime.UTC)
        digest.save()
        digests.append(digest)
    latest = max(digests, key=lambda digest: digest.date)
    first = latest.ordered_entries().first()
    first.arxiv_id = "2507.07017"
    first.save()
    return digests


def same_origin_only(page, origin: str) -> list[str]:
    """Collect every URL the page requests that is not on our own server."""
    foreign: list[str] = []
    page.on(
        "request", lambda request: None if request.url.startswith(origin) else foreign.append(request.url)
    )
    return foreign


def fits_the_viewport(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_reader_walks_home_digest_language_switch_tag_paper_and_search(
    live_server, page, artifacts_dir, published_days
):
    foreign = same_origin_only(page, live_server.url)
    latest = max(published_days, key=lambda digest: digest.date)
    first = latest.ordered_entries().first()
    first_tag = first.ordered_tags()[0]

    # Home: the latest digest, with its entries and the place to subscribe.
    page.goto(live_server.url + "/")
    assert page.locator("h2#digest-title").is_visible()
    assert page.get_by_role("heading", name=first.title).is_visible()
    assert page.locator("section.subscribe").is_visible()
    page.screenshot(path=str(artifacts_dir / "site-home.png"), full_page=True)

    # Digest page, through the link on the home page.
    page.locator("h2#digest-title a").click()
    page.wait_for_url(f"**{latest.get_absolute_url()}")
    assert page.locator("ol.entries > li").count() == latest.ordered_entries().count()
    assert page.locator('.commentary[lang="ko"]').first.is_visible()
    assert page.locator('.commentary[lang="en"]').first.is_visible()
    page.screenshot(path=str(artifacts_dir / "site-digest.png"), full_page=True)

    # Commentary language: English only, remembered on the next visit, then back to both.
    page.get_by_role("navigation", name="Commentary language").get_by_role("link", name="English").click()
    page.wait_for_url("**?lang=en")
    assert page.locator('.commentary[lang="ko"]').count() == 0
    assert page.locator('.commentary[lang="en"]').first.is_visible()
    page.screenshot(path=str(artifacts_dir / "site-digest-english.png"), full_page=True)
    page.goto(live_server.url + latest.get_absolute_url())
    assert page.locator('.commentary[lang="ko"]').count() == 0
    page.get_by_role("navigation", name="Commentary language").get_by_role("link", name="한국어").click()
    page.wait_for_url("**?lang=ko")
    assert page.locator('.commentary[lang="en"]').count() == 0
    page.screenshot(path=str(artifacts_dir / "site-digest-korean.png"), full_page=True)
    page.get_by_role("navigation", name="Commentary language").get_by_role("link", name="Both").click()
    page.wait_for_url("**?lang=both")

    # Tag page, from the first entry's first tag.
    page.locator(f"#paper-{first.pk} .tags a", has_text=f"#{first_tag.slug}").click()
    page.wait_for_url(f"**/tags/{first_tag.slug}/")
    assert page.get_by_role("heading", name=f"#{first_tag.slug}", exact=True).is_visible()
    assert page.get_by_role("link", name=first.title).is_visible()
    page.screenshot(path=str(artifacts_dir / "site-tag.png"), full_page=True)

    # Paper page: its permalink by arXiv id, both commentaries, JSON-LD.
    page.get_by_role("link", name=first.title).click()
    page.wait_for_url("**/papers/2507.07017/")
    assert page.get_by_role("heading", name=first.title, level=1).is_visible()
    assert page.locator('.commentary[lang="ko"]').is_visible()
    assert page.locator('.commentary[lang="en"]').is_visible()
    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["@type"] == "ScholarlyArticle" and data["name"] == first.title
    page.screenshot(path=str(artifacts_dir / "site-paper.png"), full_page=True)

    # Search, by keyboard alone: the skip link comes first, then Tab on to the search box.
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "site-search-q":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "site-search-q"
    word = first.title.split()[-1]
    page.keyboard.type(word)
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=*")
    assert page.get_by_role("link", name=first.title).is_visible()
    page.screenshot(path=str(artifacts_dir / "site-search.png"), full_page=True)

    # Archive, then the whole site switched to Korean.
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Archive").click()
    page.wait_for_url("**/archive/")
    assert page.locator("ul.archive-list > li").count() == len(published_days)
    page.screenshot(path=str(artifacts_dir / "site-archive.png"), full_page=True)
    page.get_by_role("button", name="한국어").click()
    page.wait_for_url("**/archive/")
    assert page.get_by_role("heading", name="보관함").is_visible()
    page.screenshot(path=str(artifacts_dir / "site-archive-korean.png"), full_page=True)

    assert foreign == [], f"requests to other hosts: {foreign}"


def test_the_site_reads_on_a_phone(live_server, browser, artifacts_dir, published_days):
    latest = max(published_days, key=lambda digest: digest.date)
    paper = Entry.objects.get(arxiv_id="2507.07017")
    context = browser.new_context(
        locale="ko-KR", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    page = context.new_page()
    try:
        for name, path in [
            ("home", "/"),
            ("digest", latest.get_absolute_url()),
            ("paper", paper.get_absolute_url()),
            ("search", "/search/?q=attention"),
        ]:
            page.goto(live_server.url + path)
            assert fits_the_viewport(page), f"{path} scrolls sideways on a phone"
            page.screenshot(path=str(artifacts_dir / f"site-phone-{name}.png"), full_page=True)
        assert page.locator("html").get_attribute("lang") == "ko"
    finally:
        context.close()


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_every_page_passes_axe_wcag_aa_checks(
    live_server, browser, artifacts_dir, published_days, color_scheme
):
    latest = max(published_days, key=lambda digest: digest.date)
    paper = Entry.objects.get(arxiv_id="2507.07017")
    tag = paper.ordered_tags()[0]
    axe = Axe()
    failures = []
    for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}):
        context = browser.new_context(locale="en-US", viewport=viewport, color_scheme=color_scheme)
        page = context.new_page()
        try:
            for path in (
                "/",
                latest.get_absolute_url(),
                paper.get_absolute_url(),
                tag.get_absolute_url(),
                "/tags/",
                "/archive/",
                "/search/?q=attention",
            ):
                page.goto(live_server.url + path)
                page.locator("details.abstract").evaluate_all("nodes => nodes.forEach(n => n.open = true)")
                results = axe.run(page, options=WCAG_AA)
                if path == latest.get_absolute_url():
                    shot = artifacts_dir / f"site-digest-{color_scheme}-{viewport['width']}.png"
                    page.screenshot(path=str(shot))
                if results.violations_count:
                    failures.append(f"{path} at {viewport['width']}px:\n{results.generate_report()}")
        finally:
            context.close()
    assert not failures, "\n".join(failures)
