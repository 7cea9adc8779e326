"""Add from Hugging Face in a real browser: tick two of five papers, find two draft entries."""

import pytest
from django.contrib.auth import get_user_model

from newsletters.models import Entry
from tests.factories import make_digest, make_entry
from tests.newsletters.hf_fake import SIX_PAPERS, serve_fake_hf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def test_ticking_two_of_five_papers_adds_two_draft_entries(page, live_server, settings, artifacts_dir):
    digest = make_digest("2025-07-10")
    make_entry(digest=make_digest("2025-07-03"), arxiv_id="2507.06203", title="A Survey on Latent Reasoning")
    get_user_model().objects.create_superuser("editor", "editor@example.org", PASSWORD)
    page.set_viewport_size({"width": 1300, "height": 900})

    with serve_fake_hf(settings) as hf:
        hf.answer(SIX_PAPERS[:5])
        page.goto(f"{live_server.url}/admin/login/?next=/admin/newsletters/digest/{digest.pk}/change/")
        page.fill("#id_username", "editor")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.click("a.hflink")

        rows = page.locator("tr.hf-paper")
        rows.first.wait_for()
        assert rows.count() == 5
        repeat = page.locator('tr.hf-paper[data-arxiv-id="2507.06203"]')
        assert "featured on 2025-07-03" in repeat.inner_text()
        assert repeat.locator("input[type=checkbox]").is_disabled()
        link = page.locator('tr[data-arxiv-id="2507.06448"] a', has_text="Hugging Face page")
        assert link.get_attribute("href") == "https://huggingface.co/papers/2507.06448"
        page.check('input[value="2507.05963"]')
        page.get_by_label("Vision-Language-Vision Auto-Encoder").check()
        page.screenshot(path=str(artifacts_dir / "admin-add-from-hf.png"), full_page=True)

        page.click("input[type=submit]")
        page.wait_for_selector(".messagelist .success")

    assert "Added 2 papers from Hugging Face as draft entries." in page.locator(".messagelist").inner_text()
    entries = list(digest.ordered_entries())
    assert [(e.arxiv_id, e.status, e.position) for e in entries] == [
        ("2507.07095", Entry.Status.DRAFT, 1),
        ("2507.05963", Entry.Status.DRAFT, 2),
    ]
    inline = page.locator(".entry-order").inner_text()
    assert "Vision-Language-Vision Auto-Encoder" in inline and "Go to Zero" in inline
    page.screenshot(path=str(artifacts_dir / "admin-add-from-hf-added.png"), full_page=True)
