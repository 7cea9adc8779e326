"""The admin editor in a real browser: live previews as the editor types, and reordering entries."""

import pytest
from django.contrib.auth import get_user_model

from newsletters.models import Entry
from tests.factories import make_digest, make_entry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def log_in(page, live_server) -> None:
    get_user_model().objects.create_superuser("editor", "editor@example.org", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def test_typing_commentary_updates_both_previews_with_what_readers_see(page, live_server, artifacts_dir):
    digest = make_digest("2025-07-10")
    entry = make_entry(
        title="Mean Flows for One-step Generative Modeling",
        authors=["Zhengyang Geng", "Mingyang Deng", "Yang (Katie)Zhao"],
        abstract="We propose a principled and effective framework for one-step generative modeling.",
        digest=digest,
        position=1,
        commentary_ko="",
        commentary_en="",
        tags=("diffusion", "generative-model"),
    )
    page.set_viewport_size({"width": 1400, "height": 1100})
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/entry/{entry.pk}/change/")

    page.fill(
        "#id_commentary_ko",
        "평균 속도를 추정하는 방식의 **원스텝** 생성 모델입니다.\n\n"
        "코드는 https://github.com/example/meanflow 에 있습니다.",
    )
    page.fill(
        "#id_commentary_en",
        "A **one-step** generative model that estimates average velocity.\n\n"
        "Code: https://github.com/example/meanflow",
    )

    ko = page.locator("#id_commentary_ko_preview")
    en = page.locator("#id_commentary_en_preview")
    ko.locator("strong", has_text="원스텝").wait_for()
    en.locator("strong", has_text="one-step").wait_for()
    assert ko.locator("a").get_attribute("href") == "https://github.com/example/meanflow"
    assert en.locator("a").get_attribute("href") == "https://github.com/example/meanflow"
    assert "**" not in en.inner_text()
    ko_box, en_box = ko.bounding_box(), en.bounding_box()
    assert ko_box["x"] + ko_box["width"] <= en_box["x"]  # side by side on a wide screen
    page.screenshot(path=str(artifacts_dir / "admin-entry-form.png"), full_page=True)

    page.fill("#id_tag_line", "#diffusion #gen")
    page.locator('#tag-suggestions option[value="#diffusion #generative-model"]').wait_for(state="attached")
    page.fill("#id_tag_line", "#diffusion #generative-model")

    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    entry.refresh_from_db()
    assert entry.commentary_en.startswith("A **one-step** generative model")
    assert [tag.slug for tag in entry.ordered_tags()] == ["diffusion", "generative-model"]


def test_commentary_previews_stack_on_a_phone(page, live_server, artifacts_dir):
    entry = make_entry(commentary_ko="짧은 평입니다.", commentary_en="A short note.")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/entry/{entry.pk}/change/")

    ko_box = page.locator("#id_commentary_ko_preview").bounding_box()
    en_box = page.locator("#id_commentary_en_preview").bounding_box()

    assert en_box["y"] > ko_box["y"] + ko_box["height"]
    page.screenshot(path=str(artifacts_dir / "admin-entry-form-phone.png"), full_page=True)


def test_entries_are_reordered_with_buttons_and_keyboard_and_saved(page, live_server, artifacts_dir):
    digest = make_digest("2025-07-10")
    for position, title in enumerate(["Alpha paper", "Beta paper", "Gamma paper"], start=1):
        make_entry(title=title, digest=digest, position=position)
    page.set_viewport_size({"width": 1300, "height": 900})
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/change/")

    rows = page.locator("#entries-group tbody tr.has_original")
    rows.nth(0).locator("button.move-down").click()  # Beta, Alpha, Gamma
    handle = rows.filter(has_text="Gamma paper").locator("button.drag-handle")
    handle.focus()
    page.keyboard.press("ArrowUp")  # Beta, Gamma, Alpha
    page.keyboard.press("ArrowUp")  # Gamma, Beta, Alpha

    titles = [text.strip() for text in rows.locator(".field-title_link a").all_inner_texts()]
    assert titles == ["Gamma paper", "Beta paper", "Alpha paper"]
    assert page.evaluate("document.activeElement.classList.contains('drag-handle')")
    page.screenshot(path=str(artifacts_dir / "admin-digest-order.png"), full_page=True)
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    assert list(Entry.objects.filter(digest=digest).order_by("position").values_list("title", flat=True)) == [
        "Gamma paper",
        "Beta paper",
        "Alpha paper",
    ]


def test_entries_are_reordered_by_drag_and_drop(page, live_server):
    digest = make_digest("2025-07-10")
    for position, title in enumerate(["Alpha paper", "Beta paper", "Gamma paper"], start=1):
        make_entry(title=title, digest=digest, position=position)
    page.set_viewport_size({"width": 1300, "height": 900})
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/change/")

    rows = page.locator("#entries-group tbody tr.has_original")
    gamma_handle = rows.nth(2).locator("button.drag-handle")
    alpha_row = rows.nth(0)
    box = alpha_row.bounding_box()
    gamma_handle.hover()
    page.mouse.down()
    page.mouse.move(box["x"] + 20, box["y"] + 4, steps=8)
    page.mouse.up()

    titles = [text.strip() for text in rows.locator(".field-title_link a").all_inner_texts()]
    assert titles == ["Gamma paper", "Alpha paper", "Beta paper"]
    positions = rows.locator(".field-position input").evaluate_all("els => els.map(e => e.value)")
    assert positions == ["1", "2", "3"]
