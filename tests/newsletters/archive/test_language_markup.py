"""Every block in another language than the page's says so (lang), so screen readers switch voice.

The page's <html lang> follows the active site language; a paper's title, authors and abstract
are English (lang="en") and each commentary carries its own language, on every page that shows them.
"""

import lxml.html
import pytest

from newsletters.models import Digest
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

TITLE = "First Return, Entropy-Eliciting Explore"


@pytest.fixture
def paper():
    digest = make_digest(
        "2025-07-10", status=Digest.Status.SENT, intro_ko="오늘의 소개", intro_en="Today's intro"
    )
    return make_entry(
        digest=digest,
        title=TITLE,
        authors=["Tianyu Zheng", "Yang (Katie)Zhao"],
        abstract="Reinforcement learning with verifiable rewards improves reasoning.",
        arxiv_id="2507.07017",
        commentary_ko="엔트로피가 높은 토큰이 분기점이군요.",
        commentary_en="High-entropy tokens are branching points.",
        tags=("rl",),
    )


def page_of(client, url: str, language: str = "ko") -> lxml.html.HtmlElement:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return lxml.html.fromstring(response.content)


def language_of(element: lxml.html.HtmlElement) -> str:
    """The language a screen reader uses for this element: its nearest lang attribute."""
    return next(node.get("lang") for node in [element, *element.iterancestors()] if node.get("lang"))


def elements_holding(page: lxml.html.HtmlElement, text: str) -> list[lxml.html.HtmlElement]:
    """The elements whose own text holds text, apart from the head's <title> and JSON-LD, read by no one."""
    found = [
        element
        for element in page.iter()
        if text in (element.text or "") and element.tag not in ("title", "script")
    ]
    assert found, f"{text!r} is not on the page"
    return found


PAGES = ["/", "/digests/2025-07-10/", "/papers/2507.07017/", "/tags/rl/", "/search/?q=entropy", "/archive/"]


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("language", ["ko", "en"])
def test_english_blocks_on_a_page_are_marked_english_whatever_the_site_language(client, paper, url, language):
    page = page_of(client, url, language)

    assert page.get("lang") == language
    for element in elements_holding(page, TITLE):
        assert language_of(element) == "en", lxml.html.tostring(element)
    if url != "/archive/":  # the archive lists titles only
        for element in elements_holding(page, "Tianyu Zheng"):
            assert language_of(element) == "en", lxml.html.tostring(element)


@pytest.mark.parametrize("url", ["/", "/digests/2025-07-10/", "/papers/2507.07017/"])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_each_commentary_and_the_abstract_carry_their_language(client, paper, url, language):
    page = page_of(client, url, language)

    assert {language_of(element) for element in elements_holding(page, "엔트로피가 높은 토큰")} == {"ko"}
    assert {language_of(element) for element in elements_holding(page, "High-entropy tokens")} == {"en"}
    assert {language_of(element) for element in elements_holding(page, "verifiable rewards")} == {"en"}


def test_the_digest_intro_carries_its_language(client, paper):
    page = page_of(client, "/digests/2025-07-10/", "en")

    assert {language_of(element) for element in elements_holding(page, "오늘의 소개")} == {"ko"}
    assert {language_of(element) for element in elements_holding(page, "Today's intro")} == {"en"}


def test_the_site_chrome_follows_the_site_language_around_english_titles(client, paper):
    """Korean labels next to an English title stay Korean: lang wraps the title, not its row."""
    page = page_of(client, "/search/?q=entropy", "ko")

    (summary,) = page.find_class("entry-summary")
    assert language_of(summary) == "ko"
    assert language_of(summary.find_class("meta")[0]) == "ko"
