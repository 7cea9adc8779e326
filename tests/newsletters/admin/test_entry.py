"""The entry editor in the admin: forms, live preview, tags, authors, repeat warnings."""

import pytest
from django.urls import reverse

from newsletters.models import Entry, Tag
from tests.factories import make_digest, make_entry, make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    """The admin follows the browser's language; these tests read the English text."""
    settings.LANGUAGE_CODE = "en"


def entry_form_data(**overrides) -> dict:
    data = {
        "digest": "",
        "position": "1",
        "status": "ready",
        "title": "Mean Flows for One-step Generative Modeling",
        "authors": "Zhengyang Geng, Mingyang Deng, Yang (Katie)Zhao",
        "abstract": "We propose a principled framework.",
        "source_url": "",
        "arxiv_id": "",
        "tag_line": "#diffusion",
        "commentary_ko": "평균 속도를 추정하는 방식.",
        "commentary_en": "Estimates average velocity.",
    }
    data.update(overrides)
    return data


def test_entry_changelist_shows_entries_with_their_digest_and_tags(admin_client):
    digest = make_digest("2025-07-10")
    make_entry(title="Mean Flows", digest=digest, tags=("diffusion", "generative"))

    response = admin_client.get(reverse("admin:newsletters_entry_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Mean Flows" in html
    assert "2025-07-10" in html
    assert "#diffusion #generative" in html


def test_entry_changelist_search_finds_words_in_commentary_and_authors(admin_client):
    make_entry(title="First", commentary_en="About sparse updates", authors=["Sagnik Mukherjee"])
    make_entry(title="Second", commentary_en="Something else", authors=["Kaiming He"])
    url = reverse("admin:newsletters_entry_changelist")

    by_commentary = admin_client.get(url, {"q": "sparse"}).content.decode()
    by_author = admin_client.get(url, {"q": "Kaiming"}).content.decode()

    assert "First" in by_commentary and "Second" not in by_commentary
    assert "Second" in by_author and "First" not in by_author


def test_entry_change_form_shows_commentaries_side_by_side_with_rendered_previews(admin_client):
    entry = make_entry(
        authors=["Ada Lovelace", "Yang (Katie)Zhao"],
        commentary_ko="**굵게** 쓴 평입니다.",
        commentary_en="See https://example.org/paper for details.",
        tags=("rl", "reasoning"),
    )

    response = admin_client.get(reverse("admin:newsletters_entry_change", args=[entry.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Ada Lovelace, Yang (Katie)Zhao"' in html
    assert 'value="#rl #reasoning"' in html
    assert 'class="md-preview reader-text" id="id_commentary_ko_preview" lang="ko"' in html
    assert "<strong>굵게</strong>" in html
    assert '<a href="https://example.org/paper" rel="noopener noreferrer">' in html
    assert "newsletters/admin/entry_form.js" in html


def test_entry_add_form_renders_with_the_arxiv_lookup(admin_client):
    response = admin_client.get(reverse("admin:newsletters_entry_add"), {"digest": "1"})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'action="/admin/newsletters/entry/from-arxiv/"' in html
    assert '<input type="hidden" name="digest" value="1">' in html


def test_preview_endpoint_returns_sanitised_html(admin_client):
    response = admin_client.post(
        reverse("admin:newsletters_entry_preview"),
        {"text": "**bold** and https://example.org <script>alert(1)</script> [x](javascript:alert(1))"},
    )

    assert response.status_code == 200
    html = response.json()["html"]
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">https://example.org</a>' in html
    assert "<script" not in html
    assert "javascript:" not in html


def test_preview_endpoint_refuses_anonymous_users(client):
    response = client.post(reverse("admin:newsletters_entry_preview"), {"text": "**bold**"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert b"<strong>" not in response.content


def test_preview_endpoint_refuses_get(admin_client):
    response = admin_client.get(reverse("admin:newsletters_entry_preview"), {"text": "**bold**"})

    assert response.status_code == 405


def test_preview_endpoint_requires_the_csrf_token(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(reverse("admin:newsletters_entry_preview"), {"text": "**bold**"})

    assert response.status_code == 403


def test_tag_autocomplete_lists_matching_tags_most_used_first(admin_client):
    make_entry(tags=("reasoning",))
    make_entry(tags=("reasoning", "rl"))
    make_tag("rlhf", name="RL from human feedback")
    make_tag("diffusion")

    response = admin_client.get(reverse("admin:newsletters_entry_tags"), {"q": "#r"})

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"slug": "reasoning", "name": "reasoning", "count": 2},
        {"slug": "rl", "name": "rl", "count": 1},
        {"slug": "rlhf", "name": "RL from human feedback", "count": 0},
    ]


def test_tag_autocomplete_refuses_anonymous_users(client):
    make_tag("rl")

    response = client.get(reverse("admin:newsletters_entry_tags"), {"q": "r"})

    assert response.status_code == 302
    assert b"rl" not in response.content


def test_adding_an_entry_keeps_tag_order_creates_new_tags_and_records_the_editor(admin_client, admin_user):
    make_tag("a")
    make_tag("b")

    response = admin_client.post(
        reverse("admin:newsletters_entry_add"), entry_form_data(tag_line="#b #a #new-tag")
    )

    assert response.status_code == 302
    entry = Entry.objects.get()
    assert [tag.slug for tag in entry.ordered_tags()] == ["b", "a", "new-tag"]
    assert Tag.objects.filter(slug="new-tag").exists()
    assert entry.authors == ["Zhengyang Geng", "Mingyang Deng", "Yang (Katie)Zhao"]
    assert entry.created_by == admin_user


def test_tags_may_be_typed_with_commas_and_without_hashes(admin_client):
    entry = make_entry(tags=("rl",))

    admin_client.post(
        reverse("admin:newsletters_entry_change", args=[entry.pk]),
        entry_form_data(tag_line="reasoning, rl,  상태-공간", title=entry.title),
    )

    assert [tag.slug for tag in entry.ordered_tags()] == ["reasoning", "rl", "상태-공간"]


def test_invalid_tags_are_refused_with_a_clear_error_and_nothing_saved(admin_client):
    response = admin_client.post(
        reverse("admin:newsletters_entry_add"), entry_form_data(tag_line="#rl #State Space! #ok")
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "#State is not a valid tag: use lowercase letters, digits, dashes or Hangul" in html
    assert "Did you mean #state?" in html
    assert "#Space! is not a valid tag" in html
    assert not Entry.objects.exists()


def test_editing_authors_line_round_trips_names_with_parentheses(admin_client):
    entry = make_entry(authors=["Old Author"])

    admin_client.post(
        reverse("admin:newsletters_entry_change", args=[entry.pk]),
        entry_form_data(title=entry.title, authors="Jie Zhang,  Florian Tramèr, Wei (MIT, CMU) Li"),
    )

    entry.refresh_from_db()
    assert entry.authors == ["Jie Zhang", "Florian Tramèr", "Wei (MIT, CMU) Li"]


def test_entry_repeated_from_an_earlier_digest_shows_a_warning_with_links(admin_client):
    earlier = make_digest("2025-05-20")
    later = make_digest("2025-07-10")
    first = make_entry(title="Mean Flows for  One-step Generative Modeling", digest=earlier)
    repeat = make_entry(title="mean flows for one-step generative modeling", digest=later)

    html = admin_client.get(reverse("admin:newsletters_entry_change", args=[repeat.pk])).content.decode()

    assert "This paper already appeared in digest" in html
    assert f'href="/admin/newsletters/digest/{earlier.pk}/change/">2025-05-20</a>' in html
    assert f'href="/admin/newsletters/entry/{first.pk}/change/"' in html


def test_the_earlier_entry_itself_gets_no_repeat_warning(admin_client):
    earlier = make_digest("2025-05-20")
    later = make_digest("2025-07-10")
    first = make_entry(title="Same title", digest=earlier)
    make_entry(title="Same title", digest=later)

    html = admin_client.get(reverse("admin:newsletters_entry_change", args=[first.pk])).content.decode()

    assert "already appeared" not in html


def test_duplicate_arxiv_id_is_a_friendly_form_error_naming_the_digest(admin_client):
    earlier = make_digest("2025-05-20")
    first = make_entry(title="Mean Flows", arxiv_id="2505.13447", digest=earlier)

    response = admin_client.post(
        reverse("admin:newsletters_entry_add"), entry_form_data(title="Another title", arxiv_id="2505.13447")
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "This arXiv paper is already in digest" in html
    assert f'<a href="/admin/newsletters/digest/{earlier.pk}/change/">2025-05-20</a>' in html
    assert f'<a href="/admin/newsletters/entry/{first.pk}/change/">Mean Flows</a>' in html
    assert "Constraint" not in html
    assert Entry.objects.count() == 1


def test_entry_changelist_search_finds_authors_with_accents_and_hangul(admin_client):
    make_entry(title="RealMath", authors=["Kristina Nikolić", "Florian Tramèr", "김철수"])
    make_entry(title="Other paper", authors=["Ada Lovelace"])
    url = reverse("admin:newsletters_entry_changelist")

    for term in ["Tramèr", "Nikolić", "김철수"]:
        html = admin_client.get(url, {"q": term}).content.decode()
        assert "RealMath" in html, term
        assert "Other paper" not in html, term
