"""The public archive as a reader sees it: home, archive, digest, paper and tag pages."""

import datetime
import html
import importlib
import re

import pytest
from django.urls import reverse

from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT


def text_of(response) -> str:
    """The page's visible text, roughly: tags stripped, whitespace collapsed."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def test_home_shows_the_latest_sent_digest_and_not_a_newer_draft(client):
    old = make_digest("2025-07-09", status=SENT)
    make_entry(digest=old, title="Yesterday's paper")
    latest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=latest, title="Today's paper", commentary_en="Worth **reading**.")
    draft = make_digest("2025-07-11")
    make_entry(digest=draft, title="Tomorrow's secret paper")

    response = client.get("/")

    assert response.status_code == 200
    page = text_of(response)
    assert "Today's paper" in page
    assert "<strong>reading</strong>" in response.content.decode()
    assert "Yesterday's paper" not in page
    assert "Tomorrow's secret paper" not in page
    assert 'id="subscribe-title"' in response.content.decode()


def test_home_says_so_when_nothing_was_published_yet(client):
    make_entry(digest=make_digest("2025-07-10"), title="Draft only")

    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    assert "No digest has been published yet." in text_of(response)
    assert "Draft only" not in text_of(response)


def test_a_sending_digest_is_already_public(client):
    digest = make_digest("2025-07-10", status=Digest.Status.SENDING)
    make_entry(digest=digest, title="Going out now")

    response = client.get("/digests/2025-07-10/")

    assert response.status_code == 200
    assert "Going out now" in text_of(response)


@pytest.mark.parametrize("status", [Digest.Status.DRAFT, Digest.Status.SCHEDULED, Digest.Status.MISSED])
def test_unsent_digests_answer_404_to_the_public(client, status):
    digest = make_digest("2025-07-10", status=status)
    entry = make_entry(digest=digest, title="Not yet", arxiv_id="2507.00001")

    assert client.get("/digests/2025-07-10/").status_code == 404
    assert client.get(entry.get_absolute_url()).status_code == 404


def test_staff_preview_a_draft_digest_under_a_banner(admin_client):
    digest = make_digest("2025-07-10")
    make_entry(digest=digest, title="Coming tomorrow")

    response = admin_client.get("/digests/2025-07-10/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = text_of(response)
    assert "Draft preview" in page
    assert "Coming tomorrow" in page
    assert '<meta name="robots" content="noindex">' in response.content.decode()


def test_a_sent_digest_has_no_preview_banner(admin_client):
    make_entry(digest=make_digest("2025-07-10", status=SENT))

    response = admin_client.get("/digests/2025-07-10/", HTTP_ACCEPT_LANGUAGE="en")

    assert "Draft preview" not in text_of(response)
    assert "noindex" not in response.content.decode()


def test_an_impossible_or_unknown_day_is_404(client):
    assert client.get("/digests/2025-02-30/").status_code == 404
    assert client.get("/digests/2025-07-10/").status_code == 404


def test_digest_page_lists_ready_entries_in_order_with_their_tags(client):
    digest = make_digest("2025-07-10", status=SENT)
    second = make_entry(digest=digest, position=2, title="Second paper", tags=("reasoning", "rl"))
    first = make_entry(digest=digest, position=1, title="First paper", tags=("state-space-model",))
    make_entry(digest=digest, position=3, title="Unfinished paper", status=Entry.Status.DRAFT)
    second.set_tags(["reasoning", "rl"])

    response = client.get(digest.get_absolute_url())

    page = text_of(response)
    assert page.index("First paper") < page.index("Second paper")
    assert "Unfinished paper" not in page
    assert re.search(r"#reasoning\s+#rl", page)
    html = response.content.decode()
    assert f'href="{first.get_absolute_url()}"' in html
    assert 'href="/tags/state-space-model/"' in html


def test_digest_page_shows_both_commentaries_by_default(client):
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(
        digest=digest, commentary_ko="탐색을 촉진하는 연구군요.", commentary_en="It encourages exploration."
    )

    page = text_of(client.get(digest.get_absolute_url()))

    assert "탐색을 촉진하는 연구군요." in page
    assert "It encourages exploration." in page


def test_the_commentary_language_switch_shows_one_language_and_remembers_it(client):
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=digest, commentary_ko="한국어 해설입니다.", commentary_en="The English commentary.")
    url = digest.get_absolute_url()

    english = client.get(url + "?lang=en")
    assert "The English commentary." in text_of(english)
    assert "한국어 해설입니다." not in text_of(english)
    assert english.cookies["commentary_lang"].value == "en"

    later = client.get(url)
    assert "The English commentary." in text_of(later)
    assert "한국어 해설입니다." not in text_of(later)
    assert 'href="?lang=en" hreflang="en" lang="en" aria-current="true"' in later.content.decode()

    korean = client.get(url + "?lang=ko")
    assert "한국어 해설입니다." in text_of(korean)
    assert "The English commentary." not in text_of(korean)

    both = client.get(url + "?lang=both")
    assert "한국어 해설입니다." in text_of(both) and "The English commentary." in text_of(both)


def test_an_unknown_commentary_language_falls_back_to_both(client):
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=digest, commentary_ko="한국어 해설입니다.", commentary_en="The English commentary.")

    response = client.get(digest.get_absolute_url() + "?lang=fr")

    assert "한국어 해설입니다." in text_of(response) and "The English commentary." in text_of(response)
    assert "commentary_lang" not in response.cookies


def test_commentary_is_rendered_markdown_with_links_and_no_scripts(client):
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(
        digest=digest,
        commentary_en="See https://arxiv.org/abs/2506.01939 for *more*.<script>alert(1)</script>",
    )

    html = client.get(digest.get_absolute_url()).content.decode()

    assert '<a href="https://arxiv.org/abs/2506.01939"' in html
    assert "<em>more</em>" in html
    assert "alert(1)" not in html


def test_digest_intro_is_shown_in_the_chosen_language(client):
    digest = make_digest("2025-07-10", status=SENT, intro_ko="오늘의 소개.", intro_en="Today's intro.")
    make_entry(digest=digest)

    assert "Today's intro." in text_of(client.get(digest.get_absolute_url()))
    korean = text_of(client.get(digest.get_absolute_url() + "?lang=ko"))
    assert "오늘의 소개." in korean and "Today's intro." not in korean


def test_digest_page_links_to_the_previous_and_next_sent_days(client):
    make_entry(digest=make_digest("2025-07-08", status=SENT))
    make_entry(digest=make_digest("2025-07-09"))
    make_entry(digest=make_digest("2025-07-10", status=SENT))
    make_entry(digest=make_digest("2025-07-12", status=SENT))

    html = client.get("/digests/2025-07-10/").content.decode()

    assert 'rel="prev" href="/digests/2025-07-08/"' in html
    assert 'rel="next" href="/digests/2025-07-12/"' in html
    assert "/digests/2025-07-09/" not in html


def test_paper_page_by_arxiv_id_shows_both_commentaries_tags_links_and_its_digest(client):
    digest = make_digest("2025-07-10", status=SENT)
    entry = make_entry(
        digest=digest,
        title="First Return, Entropy-Eliciting Explore",
        authors=["Tianyu Zheng", "Yang (Katie)Zhao"],
        abstract="RLVR improves reasoning.",
        arxiv_id="2507.07017",
        commentary_ko="엔트로피가 높은 토큰이 분기점이군요.",
        commentary_en="High-entropy tokens are branching points.",
        tags=("rl", "reasoning"),
    )
    entry.set_tags(["rl", "reasoning"])

    response = client.get("/papers/2507.07017/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = text_of(response)
    for text in (
        "First Return, Entropy-Eliciting Explore",
        "Tianyu Zheng, Yang (Katie)Zhao",
        "RLVR improves reasoning.",
        "엔트로피가 높은 토큰이 분기점이군요.",
        "High-entropy tokens are branching points.",
    ):
        assert text in page
    assert re.search(r"#rl\s+#reasoning", page)
    html = response.content.decode()
    assert 'href="https://arxiv.org/abs/2507.07017"' in html
    assert 'href="https://arxiv.org/pdf/2507.07017"' in html
    assert 'href="/digests/2025-07-10/"' in html


def test_paper_without_arxiv_id_has_a_permalink_made_from_its_title(client):
    digest = make_digest("2025-07-10", status=SENT)
    entry = make_entry(digest=digest, title="A Systematic Analysis of Hybrid Linear Attention")

    assert entry.get_absolute_url() == "/papers/a-systematic-analysis-of-hybrid-linear-attention/"
    assert "Hybrid Linear Attention" in text_of(client.get(entry.get_absolute_url()))


def test_a_paper_with_an_arxiv_id_is_also_found_by_its_slug(client):
    entry = make_entry(digest=make_digest("2025-07-10", status=SENT), title="Same Paper", arxiv_id="2507.1")

    response = client.get(f"/papers/{entry.slug}/")

    assert response.status_code == 200
    assert '<link rel="canonical" href="http://127.0.0.1:8000/papers/2507.1/">' in response.content.decode()


def test_papers_with_the_same_title_get_different_permalinks():
    first = make_entry(title="Attention Is All You Need")
    second = make_entry(title="Attention Is All You Need")

    assert first.slug == "attention-is-all-you-need"
    assert second.slug == "attention-is-all-you-need-2"


def test_an_explicit_slug_is_kept_and_an_edit_of_the_title_does_not_move_the_permalink():
    entry = make_entry(title="Old title", slug="chosen-slug")
    entry.title = "New title"
    entry.save(update_fields=["title"])
    other = make_entry(title="Old title")

    entry.refresh_from_db()
    assert entry.slug == "chosen-slug"
    assert other.slug == "old-title"


def test_entries_created_without_save_get_their_slug_on_first_link():
    digest = make_digest("2025-07-10", status=SENT)
    Entry.objects.bulk_create([Entry(digest=digest, title="Bulk Made Paper")])
    entry = Entry.objects.get(title="Bulk Made Paper")
    assert entry.slug == ""

    assert entry.get_absolute_url() == "/papers/bulk-made-paper/"
    assert Entry.objects.get(pk=entry.pk).slug == "bulk-made-paper"


def test_a_draft_entry_or_one_outside_a_digest_is_not_public_but_staff_can_preview_it(client, admin_client):
    digest = make_digest("2025-07-10", status=SENT)
    draft = make_entry(digest=digest, title="Half written", status=Entry.Status.DRAFT)
    loose = make_entry(title="No digest yet")

    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get(loose.get_absolute_url()).status_code == 404
    preview = admin_client.get(loose.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    assert preview.status_code == 200
    assert "Draft preview" in text_of(preview)


def test_an_unknown_paper_is_404(client):
    assert client.get("/papers/2501.99999/").status_code == 404


def test_tag_page_lists_its_published_entries_across_days_newest_first(client):
    older = make_digest("2025-07-09", status=SENT)
    newer = make_digest("2025-07-10", status=SENT)
    draft = make_digest("2025-07-11")
    make_entry(digest=older, title="Older RL paper", tags=("rl",))
    make_entry(digest=newer, title="Newer RL paper", tags=("rl", "reasoning"))
    make_entry(digest=newer, title="Vision paper", tags=("vision",))
    make_entry(digest=draft, title="Draft RL paper", tags=("rl",))

    response = client.get("/tags/rl/")

    page = text_of(response)
    assert page.index("Newer RL paper") < page.index("Older RL paper")
    assert "Vision paper" not in page
    assert "Draft RL paper" not in page
    assert 'href="/tags/rl/rss/"' in response.content.decode()


def test_tag_pages_are_paginated(client):
    digest = make_digest("2025-07-10", status=SENT)
    for position in range(25):
        make_entry(digest=digest, position=position, title=f"Paper {position:02d}", tags=("rl",))

    first = text_of(client.get("/tags/rl/"))
    second = text_of(client.get("/tags/rl/?page=2"))

    assert "Paper 00" in first and "Paper 19" in first and "Paper 20" not in first
    assert "Paper 20" in second and "Paper 24" in second


def test_a_tag_without_published_entries_is_404(client):
    make_entry(digest=make_digest("2025-07-11"), tags=("secret-topic",))

    assert client.get("/tags/secret-topic/").status_code == 404
    assert client.get("/tags/no-such-tag/").status_code == 404


def test_tag_index_lists_tags_with_published_entries_and_their_counts(client):
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=digest, tags=("rl",))
    make_entry(digest=digest, tags=("rl", "reasoning"))
    make_entry(digest=make_digest("2025-07-11"), tags=("secret-topic",))

    page = text_of(client.get("/tags/", HTTP_ACCEPT_LANGUAGE="en"))

    assert "#rl 2 papers" in page
    assert "#reasoning 1 paper" in page
    assert "secret-topic" not in page


def test_archive_groups_sent_digests_by_month_newest_first(client):
    make_entry(digest=make_digest("2025-06-30", status=SENT), title="June paper")
    make_entry(digest=make_digest("2025-07-01", status=SENT), title="July paper")
    make_entry(digest=make_digest("2025-07-02"), title="Draft paper")

    page = text_of(client.get("/archive/", HTTP_ACCEPT_LANGUAGE="en"))

    assert page.index("July 2025") < page.index("July 1, 2025") < page.index("June 2025")
    assert page.index("June 2025") < page.index("June 30, 2025")
    assert "July paper" in page and "June paper" in page
    assert "Draft paper" not in page and "July 2, 2025" not in page


def test_archive_is_paginated(client):
    start = datetime.date(2025, 1, 1)
    for day in range(35):
        make_digest(start + datetime.timedelta(days=day), status=SENT)

    first = client.get("/archive/").content.decode()
    second = client.get("/archive/?page=2").content.decode()

    assert 'datetime="2025-02-04"' in first and 'datetime="2025-01-05"' not in first
    assert 'datetime="2025-01-05"' in second and 'datetime="2025-01-01"' in second
    assert 'rel="next" href="?page=2"' in first


def test_the_site_chrome_is_in_korean_or_english(client):
    make_entry(digest=make_digest("2025-07-10", status=SENT))

    korean = text_of(client.get("/archive/", HTTP_ACCEPT_LANGUAGE="ko"))
    english = text_of(client.get("/archive/", HTTP_ACCEPT_LANGUAGE="en"))

    assert "보관함" in korean and "2025년 7월 10일" in korean
    assert "Archive" in english and "July 10, 2025" in english


def test_the_site_language_switch_posts_to_set_language_and_is_remembered(client):
    make_entry(digest=make_digest("2025-07-10", status=SENT))

    response = client.post(reverse("set_language"), {"language": "en", "next": "/archive/"})

    assert response.status_code == 302 and response["Location"] == "/archive/"
    assert "Archive" in text_of(client.get("/archive/", HTTP_ACCEPT_LANGUAGE="ko"))
    html = client.get("/archive/").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language" value="en" lang="en" aria-pressed="true">English<' in html


def test_the_paper_page_follows_the_remembered_commentary_language(client):
    entry = make_entry(
        digest=make_digest("2025-07-10", status=SENT),
        commentary_ko="한국어 해설입니다.",
        commentary_en="The English commentary.",
    )
    client.get("/digests/2025-07-10/?lang=ko")

    page = text_of(client.get(entry.get_absolute_url()))

    assert "한국어 해설입니다." in page and "The English commentary." not in page


def test_the_migration_gives_existing_entries_unique_slugs():
    from django.apps import apps

    fill_slugs = importlib.import_module("newsletters.migrations.0002_entry_slug").fill_slugs
    Entry.objects.bulk_create([Entry(title="Old Paper"), Entry(title="Old Paper"), Entry(title="")])

    fill_slugs(apps, None)

    assert sorted(Entry.objects.values_list("slug", flat=True)) == ["old-paper", "old-paper-2", "paper"]
