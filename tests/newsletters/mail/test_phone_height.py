"""The digest on a phone: the 11-paper "both" email at 375 px, as Chromium lays it out.

Measured on the 2-core shared machine with Debian's Chromium (full-page height of the HTML
part, viewport 375 px wide): 22,597 px when the email carried every abstract whole, 17,872 px
with each abstract cut to its lead, 16,531 px for a reader who turned abstracts off. The bound
below is generous (fonts differ between machines); it fails if whole abstracts come back.
"""

import pytest

from newsletters.authoring.importing import import_digest_text
from newsletters.mail.content import email_entries_for, render_variant
from tests.conftest import DATA_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

PHONE_WIDTH = 375
HEIGHT_WITH_WHOLE_ABSTRACTS = 22_597
HEIGHT_BOUND = 20_000


def phone_height(page, html: str) -> tuple[int, int]:
    """The full-page height and width of an HTML email at phone width."""
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    page.set_content(html)
    return page.evaluate("[document.documentElement.scrollHeight, document.documentElement.scrollWidth]")


def test_the_eleven_paper_email_is_much_shorter_on_a_phone(page):
    path = DATA_DIR / "email-11-entries.txt"
    digest = import_digest_text(path.read_text(encoding="utf-8"), filename=path.name).digest
    entry_ids = list(email_entries_for(digest))

    height, width = phone_height(
        page, render_variant(digest=digest, entry_ids=entry_ids, language="both").html
    )
    without_abstracts, _ = phone_height(
        page,
        render_variant(digest=digest, entry_ids=entry_ids, language="both", include_abstracts=False).html,
    )

    assert height < HEIGHT_BOUND < HEIGHT_WITH_WHOLE_ABSTRACTS
    assert without_abstracts < height
    assert width <= PHONE_WIDTH  # nothing scrolls sideways
