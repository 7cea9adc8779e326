"""Pasting a day over an existing one in a real browser: the change preview, then Confirm."""

import pytest

from newsletters.authoring.importing import import_digest_text
from newsletters.models import Digest, Entry
from tests.newsletters.admin.test_browser_admin import log_in
from tests.newsletters.admin.test_digest import GOOD_TEXT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pasting_over_a_sent_day_previews_the_changes_and_applies_them_on_confirm(
    page, live_server, artifacts_dir
):
    import_digest_text(GOOD_TEXT)
    Digest.objects.update(status=Digest.Status.SENT)
    edited = GOOD_TEXT.replace("흥미롭네요.", "정말 흥미롭네요.").replace(
        "Model Merging in Pre-training of Large Language Models\n(Yunshui Li, Yiyuan Ma)",
        "Brand New Paper\n(Someone New)",
    )
    page.set_viewport_size({"width": 1280, "height": 1000})
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/newsletters/digest/import/")
    page.fill("#id_text", edited)
    page.click("input[type=submit]")

    page.wait_for_selector("table.import-changes")
    assert "readers have it" in page.locator(".protected-day").inner_text()
    changed = page.locator("tr.import-update")
    assert "Mean Flows for One-step Generative Modeling" in changed.inner_text()
    assert changed.locator("pre.old").inner_text().endswith("흥미롭네요.")
    assert changed.locator("pre.new").inner_text().endswith("정말 흥미롭네요.")
    assert "Brand New Paper" in page.locator("tr.import-create").inner_text()
    assert "410 Gone" in page.locator("tr.import-withdraw").inner_text()
    page.screenshot(path=str(artifacts_dir / "admin-import-preview.png"), full_page=True)
    assert Entry.objects.filter(title="Brand New Paper").count() == 0

    page.click("input[value='Confirm and import']")

    page.wait_for_selector(".messagelist .success")
    assert "1 created, 1 updated, 1 removed" in page.locator(".messagelist").inner_text()
    assert Entry.objects.filter(title="Brand New Paper").count() == 1
    assert Entry.objects.get(title__startswith="Model Merging").withdrawn_at is not None
    assert Entry.objects.get(title__startswith="Mean Flows").commentary_ko.endswith("정말 흥미롭네요.")
