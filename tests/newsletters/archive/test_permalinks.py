"""Permalinks never die: withdrawn papers answer 410 Gone, renamed ones redirect from their old keys."""

import re

import pytest
from django.urls import reverse

from newsletters.authoring import permalinks
from newsletters.delivery.planning import ready_entries
from newsletters.models import Delivery, Digest, Entry, OldPermalink
from tests.factories import make_digest, make_entry
from tests.newsletters.archive.test_pages import text_of
from tests.subscribers.helpers import make_subscriber

pytestmark = pytest.mark.django_db

SENT = Digest.Status.SENT


@pytest.fixture(autouse=True)
def english(settings) -> None:
    settings.LANGUAGE_CODE = "en"


def withdrawn_sent_entry(**overrides) -> Entry:
    digest = make_digest("2025-07-10", status=SENT)
    make_entry(digest=digest, title="A paper that stays", position=2)
    entry = make_entry(digest=digest, title="A paper the editor withdrew", position=1, **overrides)
    permalinks.remove_entries(entries=[entry])
    entry.refresh_from_db()
    return entry


def test_a_withdrawn_paper_answers_410_with_its_title_and_a_link_to_its_day(client):
    entry = withdrawn_sent_entry()

    response = client.get(f"/papers/{entry.slug}/")

    assert response.status_code == 410
    page = text_of(response)
    assert "A paper the editor withdrew" in page
    assert "withdrew this paper" in page
    assert 'href="/digests/2025-07-10/"' in response.content.decode()
    assert "noindex" in response.content.decode()


def test_a_withdrawn_paper_is_gone_by_its_arxiv_id_too(client):
    entry = withdrawn_sent_entry(arxiv_id="2506.01939")

    assert entry.get_absolute_url() == "/papers/2506.01939/"
    assert client.get("/papers/2506.01939/").status_code == 410
    assert client.get(f"/papers/{entry.slug}/").status_code == 410


def test_a_withdrawn_paper_leaves_the_day_feeds_search_sitemap_tags_and_future_emails(client):
    entry = withdrawn_sent_entry(tags=("withdrawn-only",))

    assert "A paper the editor withdrew" not in text_of(client.get("/digests/2025-07-10/"))
    assert "A paper that stays" in text_of(client.get("/digests/2025-07-10/"))
    assert "A paper the editor withdrew" not in client.get("/feeds/rss/").content.decode()
    assert "A paper the editor withdrew" not in client.get("/feeds/atom/").content.decode()
    assert "A paper the editor withdrew" not in text_of(client.get("/search/", {"q": "withdrew"}))
    assert entry.slug not in client.get("/sitemap.xml").content.decode()
    assert client.get("/tags/withdrawn-only/").status_code == 404
    assert entry.pk not in [entry_id for entry_id, _ in ready_entries(entry.digest)]


def test_removing_an_entry_nobody_received_deletes_it():
    entry = make_entry(digest=make_digest("2025-07-11"), title="Draft only")

    assert permalinks.remove_entries(entries=[entry]) == (1, 0)
    assert not Entry.objects.filter(pk=entry.pk).exists()


def test_an_entry_of_a_paused_send_that_reached_some_readers_is_withdrawn():
    alice = make_subscriber("alice@example.com")
    digest = make_digest("2025-07-10", status=Digest.Status.PAUSED)
    entry = make_entry(digest=digest)
    Delivery.objects.create(digest=digest, subscriber=alice, status=Delivery.Status.SENT)

    assert permalinks.remove_entries(entries=[entry]) == (0, 1)
    entry.refresh_from_db()
    assert entry.withdrawn_at is not None


def test_a_renamed_paper_redirects_permanently_from_its_old_slug(client):
    entry = make_entry(digest=make_digest("2025-07-10", status=SENT), title="Mean Flows for Generation")
    old_url = entry.get_absolute_url()

    entry.title = "Mean Flows for One-step Generative Modeling"
    entry.save()
    permalinks.keep_old_keys(entry=entry, old_title="Mean Flows for Generation")

    assert entry.get_absolute_url() == "/papers/mean-flows-for-one-step-generative-modeling/"
    response = client.get(old_url)
    assert response.status_code == 301
    assert response["Location"] == "/papers/mean-flows-for-one-step-generative-modeling/"
    assert client.get(response["Location"]).status_code == 200


def test_a_corrected_arxiv_id_redirects_from_the_old_one(client):
    entry = make_entry(digest=make_digest("2025-07-10", status=SENT), arxiv_id="2506.01393")

    entry.arxiv_id = "2506.01939"
    entry.save()
    permalinks.keep_old_keys(entry=entry, old_title=entry.title, old_arxiv_id="2506.01393")

    response = client.get("/papers/2506.01393/")
    assert (response.status_code, response["Location"]) == (301, "/papers/2506.01939/")


def test_a_new_paper_never_takes_an_old_slug_of_another(client):
    renamed = make_entry(digest=make_digest("2025-07-10", status=SENT), title="Scaling Laws")
    renamed.title = "Scaling Laws Revisited"
    renamed.save()
    permalinks.keep_old_keys(entry=renamed, old_title="Scaling Laws")

    newcomer = make_entry(digest=make_digest("2025-07-11", status=SENT), title="Scaling Laws")

    assert newcomer.slug == "scaling-laws-2"
    response = client.get("/papers/scaling-laws/")
    assert (response.status_code, response["Location"]) == (301, "/papers/scaling-laws-revisited/")


def test_renaming_back_makes_the_first_slug_current_again(client):
    entry = make_entry(digest=make_digest("2025-07-10", status=SENT), title="Scaling Laws")
    for old, new in (("Scaling Laws", "Scaling Laws Revisited"), ("Scaling Laws Revisited", "Scaling Laws")):
        entry.title = new
        entry.save()
        permalinks.keep_old_keys(entry=entry, old_title=old)

    assert entry.slug == "scaling-laws"
    assert client.get("/papers/scaling-laws/").status_code == 200
    assert client.get("/papers/scaling-laws-revisited/").status_code == 301


def test_a_case_only_title_fix_keeps_the_slug():
    entry = make_entry(title="Scaling laws")
    entry.title = "Scaling Laws"
    entry.save()

    permalinks.keep_old_keys(entry=entry, old_title="Scaling laws")

    assert entry.slug == "scaling-laws"
    assert not OldPermalink.objects.exists()


def test_an_old_key_of_an_unpublished_paper_does_not_reveal_its_new_address(client):
    entry = make_entry(digest=make_digest("2025-07-11"), title="Secret Draft")
    entry.title = "Secret Draft Renamed"
    entry.save()
    permalinks.keep_old_keys(entry=entry, old_title="Secret Draft")

    assert client.get("/papers/secret-draft/").status_code == 404


# --- the admin's delete ---------------------------------------------------------------


def test_the_admin_delete_of_a_sent_entry_withdraws_it_and_says_so(admin_client, client):
    entry = make_entry(digest=make_digest("2025-07-10", status=SENT), title="Sent paper")

    response = admin_client.post(
        reverse("admin:newsletters_entry_delete", args=[entry.pk]), {"post": "yes"}, follow=True
    )

    entry.refresh_from_db()
    assert entry.withdrawn_at is not None
    assert "withdrawn instead of deleted" in response.content.decode()
    assert client.get(f"/papers/{entry.slug}/").status_code == 410


def test_the_admin_bulk_delete_deletes_drafts_and_withdraws_sent_entries(admin_client):
    sent = make_entry(digest=make_digest("2025-07-10", status=SENT))
    draft = make_entry(digest=make_digest("2025-07-11"))

    response = admin_client.post(
        reverse("admin:newsletters_entry_changelist"),
        {"action": "delete_selected", "_selected_action": [sent.pk, draft.pk], "post": "yes"},
        follow=True,
    )

    assert "withdrawn instead of deleted" in response.content.decode()
    assert list(Entry.objects.values_list("pk", flat=True)) == [sent.pk]
    assert Entry.objects.get().withdrawn_at is not None


def test_the_admin_cannot_delete_a_day_readers_received(admin_client):
    digest = make_digest("2025-07-10", status=SENT)

    response = admin_client.post(
        reverse("admin:newsletters_digest_delete", args=[digest.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Digest.objects.filter(pk=digest.pk).exists()


def test_renaming_a_sent_entry_in_the_admin_keeps_the_old_link_working(admin_client, client):
    entry = make_entry(digest=make_digest("2025-07-10", status=SENT), title="Old Title", tags=("rl",))
    url = reverse("admin:newsletters_entry_change", args=[entry.pk])
    html = admin_client.get(url).content.decode()
    assert re.search(r'name="title"', html)

    response = admin_client.post(
        url,
        {
            "digest": entry.digest_id,
            "position": 1,
            "status": "ready",
            "title": "New Title",
            "authors": "Ada Lovelace",
            "abstract": "x",
            "source_url": "",
            "arxiv_id": "",
            "commentary_ko": "",
            "commentary_en": "",
            "tag_line": "#rl",
        },
    )

    assert response.status_code == 302
    assert client.get("/papers/old-title/")["Location"] == "/papers/new-title/"
