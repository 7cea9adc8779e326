"""Each paper's links on its page and in the email: arXiv abstract, PDF, and its Hugging Face page."""

import pytest
from django.utils.html import escape

from newsletters.mail.content import email_entries_for, render_variant
from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

ABS = "https://arxiv.org/abs/2507.06448"
PDF = "https://arxiv.org/pdf/2507.06448"
HF = "https://huggingface.co/papers/2507.06448"


@pytest.fixture
def day():
    digest = make_digest("2025-07-10", status=Digest.Status.SENT)
    from_hf = make_entry(
        digest=digest,
        position=1,
        title="Perception-Aware Policy Optimization",
        arxiv_id="2507.06448",
        source_url=ABS,
        source=Entry.Source.HUGGING_FACE,
    )
    typed = make_entry(digest=digest, position=2, title="Typed by the editor", arxiv_id="2507.00001")
    elsewhere = make_entry(
        digest=digest,
        position=3,
        title="On OpenReview",
        arxiv_id="2507.00002",
        source_url="https://openreview.net/forum?id=abc",
    )
    return digest, from_hf, typed, elsewhere


def test_the_paper_page_links_to_arxiv_pdf_and_hugging_face(client, day):
    _, from_hf, typed, elsewhere = day

    html = client.get(from_hf.get_absolute_url()).content.decode()
    assert f'href="{ABS}"' in html and f'href="{PDF}"' in html and f'href="{HF}"' in html

    html = client.get(typed.get_absolute_url()).content.decode()
    assert 'href="https://arxiv.org/abs/2507.00001"' in html
    assert 'href="https://arxiv.org/pdf/2507.00001"' in html
    assert "huggingface.co" not in html

    html = client.get(elsewhere.get_absolute_url()).content.decode()
    assert f'href="{escape("https://openreview.net/forum?id=abc")}"' in html
    assert 'href="https://arxiv.org/abs/2507.00002"' in html


def test_the_email_links_to_the_paper_the_pdf_and_hugging_face(day):
    digest, from_hf, typed, _ = day
    entries = email_entries_for(digest)

    rendered = render_variant(digest=digest, entry_ids=list(entries), language="both", email_entries=entries)

    for part in (rendered.html, rendered.text):
        assert ABS in part and PDF in part and HF in part
        assert "https://arxiv.org/pdf/2507.00001" in part
        assert part.count("huggingface.co/papers/") == 1
    assert f"Hugging Face: {HF}" in rendered.text
    assert f"PDF: {PDF}" in rendered.text


def test_an_entry_without_an_id_still_gets_a_title_search_link_and_no_pdf():
    digest = make_digest("2025-07-10")
    entry = make_entry(digest=digest, title="No id yet")

    email_entry = email_entries_for(digest)[entry.pk]

    assert email_entry.paper_url.startswith("https://arxiv.org/search/?")
    assert (email_entry.pdf_url, email_entry.hf_url) == ("", "")
    assert entry.hf_paper_url == "" and entry.arxiv_abs_url == ""
