"""Add from Hugging Face in the admin, against a local stand-in for the daily-papers API."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry
from tests.newsletters.hf_fake import SIX_PAPERS, hf_item, serve_fake_hf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def hf_server(settings):
    with serve_fake_hf(settings) as fake:
        fake.answer(SIX_PAPERS)
        yield fake


@pytest.fixture
def digest():
    return make_digest("2025-07-10")


def url(digest: Digest) -> str:
    return reverse("admin:newsletters_digest_from_hf", args=[digest.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_digest_page_links_to_it(admin_client, digest):
    response = admin_client.get(reverse("admin:newsletters_digest_change", args=[digest.pk]))

    assert f'href="{url(digest)}"' in response.content.decode()


def test_it_lists_the_days_papers_with_upvotes_comments_links_and_repeats(admin_client, hf_server, digest):
    earlier = make_entry(digest=make_digest("2025-07-01"), arxiv_id="2507.06203v1", title="Latent")
    make_entry(digest=digest, position=1, title="Vision-Language-Vision Auto-Encoder")

    response = admin_client.get(url(digest))

    html = response.content.decode()
    assert response.status_code == 200
    assert hf_server.queries == [{"date": ["2025-07-10"]}]
    rows = html.split('<tr class="hf-paper')[1:]
    assert [row.split('data-arxiv-id="')[1].split('"')[0] for row in rows] == [
        "2507.06448",
        "2507.06203",
        "2507.06229",
        "2507.07095",
        "2507.07105",
        "2507.05963",
    ]
    assert '<td class="upvotes">120</td>' in rows[0] and '<td class="comments">9</td>' in rows[0]
    assert 'href="https://huggingface.co/papers/2507.06448"' in rows[0]
    assert 'href="https://arxiv.org/abs/2507.06448"' in rows[0]
    assert "disabled" not in rows[0] and "new" in rows[0]
    assert rows[1].startswith(" repeat") and "featured on 2025-07-01" in rows[1] and "disabled" in rows[1]
    assert reverse("admin:newsletters_entry_change", args=[earlier.pk]) in rows[1]
    assert "already in this digest" in rows[3] and "disabled" in rows[3]


def test_ticked_papers_arrive_as_drafts_in_upvote_order(admin_client, hf_server, digest):
    make_entry(digest=digest, position=1, title="Editor's own")

    response = admin_client.post(url(digest), {"papers": ["2507.05963", "2507.06203"]}, follow=True)

    assert messages_of(response) == ["Added 2 papers from Hugging Face as draft entries."]
    added = Entry.objects.filter(source=Entry.Source.HUGGING_FACE).order_by("position")
    assert [(e.position, e.arxiv_id, e.status) for e in added] == [
        (2, "2507.06203", Entry.Status.DRAFT),
        (3, "2507.05963", Entry.Status.DRAFT),
    ]
    assert {e.created_by.username for e in added} == {"admin"}


def test_an_api_failure_is_a_message_not_a_500(admin_client, hf_server, digest):
    hf_server.status = 503

    response = admin_client.get(url(digest), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:newsletters_digest_change", args=[digest.pk])
    assert messages_of(response) == [
        "Could not read Hugging Face: Hugging Face could not be reached (HTTP 503 Service Unavailable)."
        " Nothing was added; try again later."
    ]
    response = admin_client.post(url(digest), {"papers": ["2507.05963"]}, follow=True)
    assert "Could not add from Hugging Face" in messages_of(response)[0]
    assert not Entry.objects.exists()


def test_malformed_json_is_a_message(admin_client, hf_server, digest):
    hf_server.body = b"[" * 100_000

    response = admin_client.get(url(digest), follow=True)

    assert "did not answer with a list of daily papers" in messages_of(response)[0]


def test_nothing_ticked_asks_again(admin_client, hf_server, digest):
    response = admin_client.post(url(digest), {}, follow=True)

    assert messages_of(response) == ["Tick the papers to add first."]
    assert not Entry.objects.exists()


def test_a_paper_no_longer_listed_is_reported(admin_client, hf_server, digest):
    response = admin_client.post(url(digest), {"papers": ["2507.99999", "<script>"]}, follow=True)

    assert messages_of(response) == ["No longer listed on Hugging Face: 2507.99999, <script>."]
    assert "2507.99999, &lt;script&gt;." in response.content.decode()
    assert not Entry.objects.exists()


def test_a_sent_digest_lists_but_adds_nothing(admin_client, hf_server):
    digest = make_digest("2025-07-10", status=Digest.Status.SENT)

    response = admin_client.get(url(digest))
    assert "Add ticked papers" not in response.content.decode()
    assert response.content.decode().count("disabled") == 6

    response = admin_client.post(url(digest), {"papers": ["2507.05963"]}, follow=True)
    assert messages_of(response) == [
        "Could not add from Hugging Face: digest 2025-07-10 is sent: readers have it,"
        " so no papers are added to it"
    ]
    assert not Entry.objects.exists()


def test_hostile_titles_are_escaped(admin_client, hf_server, digest):
    hf_server.answer([hf_item("2507.06203", '<img src=x onerror="alert(1)">\x00')])

    html = admin_client.get(url(digest)).content.decode()

    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_staff_without_entry_permissions_are_refused(client, hf_server, digest):
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_digest"))
    client.force_login(user)

    assert client.get(url(digest)).status_code == 403
    assert client.post(url(digest), {"papers": ["2507.05963"]}).status_code == 403
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_entry", "change_entry"]))
    user = get_user_model().objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(url(digest)).status_code == 200
    assert hf_server.queries == [{"date": ["2025-07-10"]}]  # the refused requests asked nobody


def test_anonymous_users_go_to_the_login_page(client, hf_server, digest):
    response = client.get(url(digest))

    assert response.status_code == 302 and "/login/" in response["Location"]
    assert hf_server.queries == []


def test_a_post_without_the_csrf_token_is_refused(admin_user, hf_server, digest):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(url(digest), {"papers": ["2507.05963"]})

    assert response.status_code == 403
    assert not Entry.objects.exists()
