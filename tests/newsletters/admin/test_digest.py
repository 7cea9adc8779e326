"""The digest admin: entries inline and their order, importing a day's text, the preview; tag admin."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from newsletters.models import Digest, Entry, Tag
from tests.factories import make_digest, make_entry, make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    """The admin follows the browser's language; these tests read the English text."""
    settings.LANGUAGE_CODE = "en"


GOOD_TEXT = """2025년 7월 10일
Mean Flows for One-step Generative Modeling
(Zhengyang Geng, Mingyang Deng, Yang (Katie)Zhao)
We propose a principled and effective framework for one-step generative modeling.
평균 속도를 추정하는 방식의 Flow Matching. 흥미롭네요.
An 1/few-shot flow matching that estimates average velocity.
#diffusion #generative-model
Model Merging in Pre-training of Large Language Models
(Yunshui Li, Yiyuan Ma)
Model merging has emerged as a promising technique.
프리트레이닝에 Averaged SGD를 쓴 실험.
Results of averaged SGD in pretraining, see https://example.org/merging.
#pretraining #optimizer
"""

# Line 9 should be the authors line in parentheses.
BAD_TEXT = GOOD_TEXT.replace("(Yunshui Li, Yiyuan Ma)", "Yunshui Li, Yiyuan Ma")


def digest_form_data(digest: Digest, entries: list[Entry], positions: dict[int, int]) -> dict:
    data = {
        "date": digest.date.isoformat(),
        "date_format": digest.date_format,
        "status": digest.status,
        "scheduled_at_0": "",
        "scheduled_at_1": "",
        "intro_ko": "",
        "intro_en": "",
        "entries-TOTAL_FORMS": str(len(entries)),
        "entries-INITIAL_FORMS": str(len(entries)),
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    for index, entry in enumerate(entries):
        data[f"entries-{index}-id"] = str(entry.pk)
        data[f"entries-{index}-digest"] = str(digest.pk)
        data[f"entries-{index}-position"] = str(positions[entry.pk])
        data[f"entries-{index}-status"] = entry.status
    return data


def test_digest_changelist_shows_entry_counts_and_the_import_button(admin_client):
    digest = make_digest("2025-07-10")
    make_entry(digest=digest)
    make_entry(digest=digest)

    response = admin_client.get(reverse("admin:newsletters_digest_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "2025-07-10" in html or "July 10, 2025" in html or "2025년 7월 10일" in html
    assert '<td class="field-entry_count">2</td>' in html
    assert 'href="/admin/newsletters/digest/import/"' in html


def test_digest_change_form_lists_entries_in_order_with_tags_status_and_links(admin_client):
    digest = make_digest("2025-07-10")
    second = make_entry(title="Second paper", digest=digest, position=2, tags=("rl", "reasoning"))
    first = make_entry(title="First paper", digest=digest, position=1, tags=("diffusion",))

    response = admin_client.get(reverse("admin:newsletters_digest_change", args=[digest.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("First paper") < html.index("Second paper")
    assert f'<a href="/admin/newsletters/entry/{first.pk}/change/">First paper</a>' in html
    assert f'<a href="/admin/newsletters/entry/{second.pk}/change/">Second paper</a>' in html
    assert "#rl #reasoning" in html
    assert 'name="entries-0-status"' in html
    assert "newsletters/admin/digest_order.js" in html
    assert f'href="/admin/newsletters/digest/{digest.pk}/preview/"' in html
    assert f"/admin/newsletters/entry/add/?digest={digest.pk}&amp;position=3" in html


def test_reordering_entries_in_the_inline_persists_positions(admin_client):
    digest = make_digest("2025-07-10")
    a = make_entry(title="A", digest=digest, position=1)
    b = make_entry(title="B", digest=digest, position=2)
    c = make_entry(title="C", digest=digest, position=3)

    response = admin_client.post(
        reverse("admin:newsletters_digest_change", args=[digest.pk]),
        digest_form_data(digest, [a, b, c], {a.pk: 3, b.pk: 1, c.pk: 2}),
    )

    assert response.status_code == 302
    assert [entry.title for entry in digest.ordered_entries()] == ["B", "C", "A"]
    html = admin_client.get(reverse("admin:newsletters_digest_change", args=[digest.pk])).content.decode()
    assert html.index(">B</a>") < html.index(">C</a>") < html.index(">A</a>")


def test_inline_flags_an_entry_seen_in_an_earlier_digest(admin_client):
    earlier = make_digest("2025-05-20")
    today = make_digest("2025-07-10")
    make_entry(title="Mean Flows", arxiv_id="2505.13447", digest=earlier)
    make_entry(title="Mean Flows (v2 title)", arxiv_id="2505.13447x", digest=today)
    make_entry(title="MEAN  FLOWS", digest=today)

    html = admin_client.get(reverse("admin:newsletters_digest_change", args=[today.pk])).content.decode()

    assert html.count("⚠ also in") == 1
    assert f'<a href="/admin/newsletters/digest/{earlier.pk}/change/">2025-05-20</a>' in html


def test_importing_pasted_text_creates_the_digest_and_redirects_to_it(admin_client):
    response = admin_client.post(reverse("admin:newsletters_digest_import"), {"text": GOOD_TEXT}, follow=True)

    digest = Digest.objects.get(date="2025-07-10")
    assert response.redirect_chain[-1][0] == reverse("admin:newsletters_digest_change", args=[digest.pk])
    assert "Created digest 2025-07-10 with 2 entries." in response.content.decode()
    entries = list(digest.ordered_entries())
    assert [entry.title for entry in entries] == [
        "Mean Flows for One-step Generative Modeling",
        "Model Merging in Pre-training of Large Language Models",
    ]
    assert [tag.slug for tag in entries[0].ordered_tags()] == ["diffusion", "generative-model"]


def test_importing_an_uploaded_file_over_its_day_previews_then_updates_it(admin_client):
    make_digest("2025-07-10")
    upload = SimpleUploadedFile("digest-2025-07-10.txt", GOOD_TEXT.encode(), content_type="text/plain")

    preview = admin_client.post(reverse("admin:newsletters_digest_import"), {"file": upload})
    assert "2 new, 0 changed, 0 removed, 0 unchanged" in preview.content.decode()
    assert not Entry.objects.exists()
    confirm = {"text": preview.context["pasted_text"], "plan": preview.context["plan_token"], "confirm": "1"}

    response = admin_client.post(reverse("admin:newsletters_digest_import"), confirm, follow=True)

    assert response.status_code == 200
    assert "Updated digest 2025-07-10: 2 created, 0 updated, 0 removed." in response.content.decode()
    assert Digest.objects.count() == 1
    assert Entry.objects.count() == 2


def test_importing_bad_pasted_text_shows_the_line_and_stores_nothing(admin_client):
    response = admin_client.post(reverse("admin:newsletters_digest_import"), {"text": BAD_TEXT})

    assert response.status_code == 200
    html = response.content.decode()
    assert "line 9: expected the authors line" in html
    assert '<span class="line-number">9 |</span> Yunshui Li, Yiyuan Ma</pre>' in html
    assert "평균 속도를" in html  # the pasted text is kept for fixing
    assert not Digest.objects.exists()
    assert not Entry.objects.exists()


def test_importing_a_bad_uploaded_file_shows_the_line_and_stores_nothing(admin_client):
    upload = SimpleUploadedFile("bad.txt", BAD_TEXT.encode(), content_type="text/plain")

    response = admin_client.post(reverse("admin:newsletters_digest_import"), {"file": upload})

    assert response.status_code == 200
    assert "line 9: expected the authors line" in response.content.decode()
    assert not Digest.objects.exists()


def test_importing_nothing_asks_for_text_or_a_file(admin_client):
    response = admin_client.post(reverse("admin:newsletters_digest_import"), {"text": "  "})

    assert response.status_code == 200
    assert "Paste the digest text or choose a file." in response.content.decode()


def test_importing_into_a_digest_being_sent_is_refused_with_its_reason(admin_client):
    make_digest("2025-07-10", status=Digest.Status.SENDING)

    response = admin_client.post(reverse("admin:newsletters_digest_import"), {"text": GOOD_TEXT})

    assert response.status_code == 200
    assert "is sending: its emails are already rendered" in response.content.decode()
    assert not Entry.objects.exists()


def test_import_page_refuses_anonymous_users(client):
    response = client.post(reverse("admin:newsletters_digest_import"), {"text": GOOD_TEXT})

    assert response.status_code == 302
    assert not Digest.objects.exists()


def test_import_page_renders_for_the_editor(admin_client):
    response = admin_client.get(reverse("admin:newsletters_digest_import"))

    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_digest_preview_shows_both_languages_as_readers_see_them(admin_client):
    digest = make_digest("2025-07-10")
    make_entry(
        title="Mean Flows",
        digest=digest,
        commentary_ko="**흥미롭네요**",
        commentary_en="See https://example.org",
        tags=("diffusion",),
    )

    response = admin_client.get(reverse("admin:newsletters_digest_preview", args=[digest.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>흥미롭네요</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">' in html
    assert "#diffusion" in html


def test_tag_changelist_shows_entry_counts(admin_client):
    make_entry(tags=("rl", "reasoning"))
    make_entry(tags=("rl",))
    make_tag("unused")

    response = admin_client.get(reverse("admin:newsletters_tag_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<td class="field-entry_count">') == 3
    row_rl = html[html.index(">rl</a>") :]
    assert row_rl[: row_rl.index("</tr>")].count('<td class="field-entry_count">2</td>') == 1


def test_tag_changelist_counts_in_one_query(admin_client, django_assert_max_num_queries):
    for index in range(5):
        make_entry(tags=(f"tag-{index}", "shared"))

    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:newsletters_tag_changelist"))

    assert response.status_code == 200


def test_tag_add_form_renders_and_saves(admin_client):
    assert admin_client.get(reverse("admin:newsletters_tag_add")).status_code == 200

    response = admin_client.post(
        reverse("admin:newsletters_tag_add"), {"slug": "state-space-model", "name": "State space models"}
    )

    assert response.status_code == 302
    assert Tag.objects.get(slug="state-space-model").name == "State space models"
