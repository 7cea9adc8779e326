"""Importing over an existing day in the admin: a preview of the changes, applied only on Confirm."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from newsletters.authoring.importing import import_digest_text
from newsletters.models import Digest, Entry, EntryTag
from tests.factories import make_digest, make_entry
from tests.newsletters.admin.test_digest import GOOD_TEXT

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/newsletters/digest/import/"
EDITED_TEXT = GOOD_TEXT.replace("흥미롭네요.", "정말 흥미롭네요.").replace(
    "Model Merging in Pre-training of Large Language Models\n(Yunshui Li, Yiyuan Ma)",
    "Brand New Paper\n(Someone New)",
)


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    settings.LANGUAGE_CODE = "en"


def stored_rows() -> list[tuple]:
    return [
        *Digest.objects.order_by("pk").values_list(),
        *Entry.objects.order_by("pk").values_list(),
        *EntryTag.objects.order_by("pk").values_list(),
    ]


def sent_day() -> Digest:
    result = import_digest_text(GOOD_TEXT)
    Digest.objects.update(status=Digest.Status.SENT)
    return result.digest


def preview(client, text: str = EDITED_TEXT):
    return client.post(IMPORT_URL, {"text": text})


def confirm_data(response) -> dict:
    """What the preview's Confirm button posts: the text, the signed plan, confirm=1."""
    html = response.content.decode()
    token = re.search(r'name="plan" value="([^"]+)"', html).group(1)
    return {"text": response.context["pasted_text"], "plan": token, "confirm": "1"}


def test_importing_over_an_existing_day_shows_the_changes_and_stores_nothing(admin_client):
    sent_day()
    before = stored_rows()

    response = preview(admin_client)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Check the changes to 2025-07-10" in html
    assert "1 new, 1 changed, 1 removed, 0 unchanged" in html
    assert "readers have it" in html
    assert re.search(r'class="import-change import-create">.*?Brand New Paper', html, re.S)
    assert re.search(r'class="import-change import-update">.*?Mean Flows', html, re.S)
    assert re.search(r'import-withdraw">.*?Model Merging.*?410 Gone', html, re.S)
    assert '<span class="sign">−</span> 평균 속도를 추정하는 방식의 Flow Matching. 흥미롭네요.</pre>' in html
    assert (
        '<span class="sign">+</span> 평균 속도를 추정하는 방식의 Flow Matching. 정말 흥미롭네요.</pre>'
        in html
    )
    assert stored_rows() == before


def test_confirming_the_preview_applies_exactly_it(admin_client, client):
    digest = sent_day()
    response = preview(admin_client)

    confirmed = admin_client.post(IMPORT_URL, confirm_data(response), follow=True)

    assert confirmed.redirect_chain[-1][0] == reverse("admin:newsletters_digest_change", args=[digest.pk])
    assert "Updated digest 2025-07-10: 1 created, 1 updated, 1 removed." in confirmed.content.decode()
    live = [entry.title for entry in digest.ordered_entries().ready()]
    assert live == ["Mean Flows for One-step Generative Modeling", "Brand New Paper"]
    withdrawn = Entry.objects.get(title__startswith="Model Merging")
    assert withdrawn.withdrawn_at is not None
    assert client.get(withdrawn.get_absolute_url()).status_code == 410


def test_a_new_day_imports_directly(admin_client):
    response = admin_client.post(IMPORT_URL, {"text": GOOD_TEXT})

    assert response.status_code == 302
    assert Entry.objects.count() == 2


def test_a_draft_day_is_previewed_too(admin_client):
    import_digest_text(GOOD_TEXT)
    before = stored_rows()

    response = preview(admin_client)

    assert "Check the changes to 2025-07-10" in response.content.decode()
    assert "readers have it" not in response.content.decode()
    assert stored_rows() == before


def test_the_preview_warns_of_a_paper_already_featured_on_an_earlier_day(admin_client):
    earlier = make_digest("2025-05-20", status=Digest.Status.SENT)
    make_entry(digest=earlier, title="Brand New Paper")
    sent_day()

    html = preview(admin_client).content.decode()

    row = re.search(r'import-create">(.*?)</tr>', html, re.S).group(1)
    assert "already featured on" in row
    assert f'<a href="/admin/newsletters/digest/{earlier.pk}/change/">2025-05-20</a>' in row


def test_a_confirm_after_another_editor_saved_is_refused_and_previews_again(admin_client):
    sent_day()
    response = preview(admin_client)
    Entry.objects.filter(title__startswith="Mean Flows").update(commentary_en="Another editor's fix.")
    before = stored_rows()

    again = admin_client.post(IMPORT_URL, confirm_data(response))

    html = again.content.decode()
    assert "The day changed since the preview" in html
    assert (
        '<span class="sign">−</span> Another editor&#x27;s fix.</pre>' in html
    )  # the new preview shows the current text
    assert stored_rows() == before


def test_a_double_submitted_confirm_imports_once(admin_client):
    sent_day()
    data = confirm_data(preview(admin_client))

    first = admin_client.post(IMPORT_URL, data)
    after_first = stored_rows()
    second = admin_client.post(IMPORT_URL, data)

    assert first.status_code == 302
    assert second.status_code == 200
    assert "The day changed since the preview" in second.content.decode()
    assert stored_rows() == after_first
    assert Entry.objects.filter(title="Brand New Paper").count() == 1


@pytest.mark.parametrize("token", ["", "not-a-token", "0" * 64])
def test_a_confirm_without_a_genuine_preview_is_refused(admin_client, token: str):
    sent_day()
    before = stored_rows()

    response = admin_client.post(IMPORT_URL, {"text": EDITED_TEXT, "plan": token, "confirm": "1"})

    assert "The day changed since the preview" in response.content.decode()
    assert stored_rows() == before


def test_a_tampered_token_is_refused(admin_client):
    sent_day()
    data = confirm_data(preview(admin_client))
    value, _, signature = data["plan"].rpartition(":")
    data["plan"] = f"{value}:{signature[::-1]}"
    before = stored_rows()

    response = admin_client.post(IMPORT_URL, data)

    assert "The day changed since the preview" in response.content.decode()
    assert stored_rows() == before


def test_a_confirm_with_other_text_than_previewed_is_refused(admin_client):
    sent_day()
    data = confirm_data(preview(admin_client))
    data["text"] = GOOD_TEXT.replace("Model merging has emerged", "Sneaked in")
    before = stored_rows()

    response = admin_client.post(IMPORT_URL, data)

    assert "The day changed since the preview" in response.content.decode()
    assert stored_rows() == before


def test_a_preview_token_is_not_valid_for_another_day(admin_client):
    sent_day()
    make_digest("2025-07-11", status=Digest.Status.SENT)
    data = confirm_data(preview(admin_client))
    data["text"] = EDITED_TEXT.replace("2025년 7월 10일", "2025년 7월 11일")
    before = stored_rows()

    response = admin_client.post(IMPORT_URL, data)

    assert "The day changed since the preview" in response.content.decode()
    assert stored_rows() == before


def test_pasting_the_wrong_days_text_previews_the_day_the_text_names(admin_client):
    sent_day()
    other = GOOD_TEXT.replace("2025년 7월 10일", "2025년 7월 11일")

    response = admin_client.post(IMPORT_URL, {"text": other})

    # A new day: created directly, the sent day untouched.
    assert response.status_code == 302
    assert Digest.objects.get(date="2025-07-10").entries.count() == 2
    assert Digest.objects.get(date="2025-07-11").entries.count() == 2


def test_a_non_staff_user_cannot_preview_or_confirm(client):
    sent_day()
    user = get_user_model().objects.create_user("reader", password="pw")
    client.force_login(user)
    before = stored_rows()

    response = client.post(IMPORT_URL, {"text": EDITED_TEXT, "plan": "x", "confirm": "1"})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert stored_rows() == before


def test_staff_without_change_permission_cannot_import(client):
    sent_day()
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_digest"))
    client.force_login(user)

    response = client.post(IMPORT_URL, {"text": EDITED_TEXT})

    assert response.status_code == 403


def test_a_huge_paste_is_refused_before_parsing(admin_client):
    sent_day()
    before = stored_rows()

    response = admin_client.post(IMPORT_URL, {"text": GOOD_TEXT + "x" * 600_000})

    assert "Ensure this value has at most 500000 characters" in response.content.decode()
    assert stored_rows() == before


def test_a_day_being_sent_cannot_be_confirmed(admin_client):
    sent_day()
    data = confirm_data(preview(admin_client))
    Digest.objects.update(status=Digest.Status.SENDING)
    before = stored_rows()

    response = admin_client.post(IMPORT_URL, data)

    assert "is sending: its emails are already rendered" in response.content.decode()
    assert stored_rows() == before
