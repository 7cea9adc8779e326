"""An entry's history in the admin: every save kept, diffs of old and new text, restore by POST only."""

import re
import time
from html import unescape

import pytest
import reversion
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from newsletters.authoring import history
from newsletters.models import COMMENTARY_MAX_CHARS, Digest, Entry
from tests.factories import make_digest, make_entry
from tests.newsletters.admin.test_digest import digest_form_data
from tests.newsletters.admin.test_entry import entry_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    settings.LANGUAGE_CODE = "en"


def change_url(entry: Entry) -> str:
    return reverse("admin:newsletters_entry_change", args=[entry.pk])


def restore_url(obj, version) -> str:
    name = "digest" if isinstance(obj, Digest) else "entry"
    return reverse(f"admin:newsletters_{name}_history_restore", args=[obj.pk, version.pk])


def edit(client, entry: Entry, **fields) -> None:
    response = client.post(change_url(entry), entry_form_data(**fields))
    assert response.status_code == 302, response.content.decode()[:2000]


def entry_edited_twice(client) -> Entry:
    entry = make_entry(title="Mean Flows for One-step Generative Modeling", commentary_ko="처음 쓴 글.")
    edit(client, entry, commentary_ko="평균 속도를 추정하는 방식.", tag_line="#diffusion #generative")
    edit(client, entry, commentary_ko="평균 속도를 다시 설명한다.", tag_line="#flow")
    return entry


def test_editing_twice_then_restoring_brings_back_the_old_text_and_tags_as_a_new_version(admin_client):
    entry = entry_edited_twice(admin_client)
    versions = history.versions_of(entry)
    # The factory's row had no version: the first save kept it before changing it.
    assert [v.field_dict["commentary_ko"] for v in versions] == [
        "평균 속도를 다시 설명한다.",
        "평균 속도를 추정하는 방식.",
        "처음 쓴 글.",
    ]
    assert versions[0].revision.user.get_username() == "admin"
    assert "Korean commentary" in versions[0].revision.comment

    page = admin_client.get(reverse("admin:newsletters_entry_history", args=[entry.pk])).content.decode()
    assert "Show changes" in page and page.count("Restore this version") == 2
    assert restore_url(entry, versions[1]) in page
    compare = admin_client.get(
        reverse("admin:newsletters_entry_history_compare", args=[entry.pk]),
        {"old": versions[1].pk, "new": versions[0].pk},
    )
    html = compare.content.decode()
    assert compare.status_code == 200
    assert "평균 속도를 <del>추정하는 방식</del>." in html
    assert "평균 속도를 <ins>다시 설명한다</ins>." in html
    assert "#<del>diffusion #generative</del>" in html and "#<ins>flow</ins>" in html
    assert "English commentary" not in html  # unchanged fields are left out

    response = admin_client.post(restore_url(entry, versions[1]))

    assert response.status_code == 302 and response.url == change_url(entry)
    entry.refresh_from_db()
    assert entry.commentary_ko == "평균 속도를 추정하는 방식."
    assert [tag.slug for tag in entry.ordered_tags()] == ["diffusion", "generative"]
    after = history.versions_of(entry)
    assert len(after) == 4
    assert after[0].field_dict["commentary_ko"] == "평균 속도를 추정하는 방식."
    assert "Restored the version" in after[0].revision.comment
    assert after[0].revision.user.get_username() == "admin"


def test_get_on_the_restore_url_changes_nothing(admin_client):
    entry = entry_edited_twice(admin_client)
    old = history.versions_of(entry)[1]

    response = admin_client.get(restore_url(entry, old))

    assert response.status_code == 405
    entry.refresh_from_db()
    assert entry.commentary_ko == "평균 속도를 다시 설명한다."
    assert len(history.versions_of(entry)) == 3


def test_restore_needs_the_csrf_token(admin_user):
    entry = entry_edited_twice(logged_in_client(admin_user))
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(restore_url(entry, history.versions_of(entry)[1]))

    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.commentary_ko == "평균 속도를 다시 설명한다."


def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_editor_who_may_only_view_entries_sees_the_history_but_cannot_restore(admin_client, client):
    entry = entry_edited_twice(admin_client)
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_entry"))
    client.force_login(viewer)
    old = history.versions_of(entry)[1]

    page = client.get(reverse("admin:newsletters_entry_history", args=[entry.pk]))
    response = client.post(restore_url(entry, old))

    assert page.status_code == 200 and "Restore this version" not in page.content.decode()
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.commentary_ko == "평균 속도를 다시 설명한다."
    assert len(history.versions_of(entry)) == 3


def test_a_version_of_another_entry_cannot_be_restored_onto_this_one(admin_client):
    entry = entry_edited_twice(admin_client)
    other = make_entry()
    edit(admin_client, other, title="Other", commentary_ko="다른 글.")

    response = admin_client.post(restore_url(entry, history.versions_of(other)[0]))

    assert response.status_code == 404


def test_restoring_onto_an_entry_of_a_sent_digest_works_and_is_recorded(admin_client):
    digest = make_digest("2025-07-10")
    entry = entry_edited_twice(admin_client)
    Entry.objects.filter(pk=entry.pk).update(digest=digest)
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENT)

    response = admin_client.post(restore_url(entry, history.versions_of(entry)[1]), follow=True)

    assert "Restored the version" in response.content.decode()
    entry.refresh_from_db()
    assert (entry.commentary_ko, entry.digest_id) == ("평균 속도를 추정하는 방식.", digest.pk)
    assert len(history.versions_of(entry)) == 4


def test_restoring_while_the_digest_is_being_sent_is_refused_with_a_message(admin_client):
    digest = make_digest("2025-07-10")
    entry = entry_edited_twice(admin_client)
    Entry.objects.filter(pk=entry.pk).update(digest=digest)
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENDING)

    response = admin_client.post(restore_url(entry, history.versions_of(entry)[1]), follow=True)

    assert "being sent" in response.content.decode()
    entry.refresh_from_db()
    assert entry.commentary_ko == "평균 속도를 다시 설명한다."


def test_huge_texts_are_compared_quickly_and_shown_whole(admin_client):
    # As long as the admin takes (COMMENTARY_MAX_CHARS, 20,000 characters), with many changes.
    korean = "한국어 문장이 아주 길게 이어진다. " * 950  # 19,000 characters
    english = "".join(f"Line {n} of a very long commentary.\n" for n in range(520))
    assert max(len(korean), len(english)) <= COMMENTARY_MAX_CHARS
    entry = make_entry(commentary_ko=korean, commentary_en=english)
    edit(admin_client, entry, commentary_ko=korean.replace("길게", "짧게", 400), commentary_en=english[::-1])
    versions = history.versions_of(entry)

    started = time.monotonic()
    response = admin_client.get(
        reverse("admin:newsletters_entry_history_compare", args=[entry.pk]),
        {"old": versions[1].pk, "new": versions[0].pk},
    )
    elapsed = time.monotonic() - started

    html = response.content.decode()
    assert response.status_code == 200
    assert elapsed < 10
    # Past the time limit the diff gets coarser, never wrong: each side is its text, whole.
    entry.refresh_from_db()
    old_side, new_side = side_texts(html, "commentary_ko")
    assert old_side == versions[1].field_dict["commentary_ko"] and new_side == entry.commentary_ko
    assert side_texts(html, "commentary_en")[1] == entry.commentary_en
    assert "<del>" in html and "<ins>" in html


def side_texts(html: str, field: str) -> tuple[str, str]:
    """The old and new text of one row of the compare table, without the diff marks."""
    row = re.search(rf'<tr class="diff-{field}">(.*?)</tr>', html, re.S).group(1)
    sides = re.findall(r'<div class="text (?:old|new)">(.*?)</div>', row, re.S)
    return tuple(unescape(re.sub(r"</?(ins|del)>", "", side)) for side in sides)
    assert "Line 4999 of a very long commentary." in html


def test_saving_a_digest_records_its_introduction_and_the_entries_its_inline_moved(admin_client):
    digest = make_digest("2025-07-10", intro_ko="소개.")
    first, second = make_entry(digest=digest, position=1), make_entry(digest=digest, position=2)
    data = digest_form_data(digest, [first, second], {first.pk: 2, second.pk: 1})
    data["intro_ko"] = "새 소개."

    response = admin_client.post(reverse("admin:newsletters_digest_change", args=[digest.pk]), data)

    assert response.status_code == 302
    assert [v.field_dict["intro_ko"] for v in history.versions_of(digest)] == ["새 소개.", "소개."]
    assert [v.field_dict["position"] for v in history.versions_of(first)] == [2, 1]
    page = admin_client.get(reverse("admin:newsletters_digest_history", args=[digest.pk])).content.decode()
    assert "Restore this version" in page

    admin_client.post(restore_url(digest, history.versions_of(digest)[1]))

    digest.refresh_from_db()
    assert digest.intro_ko == "소개."


def test_an_editor_restoring_a_draft_version_of_a_sent_digest_leaves_it_sent(client):
    editor = get_user_model().objects.create_user("writer", "writer@example.com", "pw", is_staff=True)
    editor.user_permissions.set(
        Permission.objects.filter(codename__in=["view_digest", "change_digest", "view_entry", "change_entry"])
    )
    client.force_login(editor)
    digest = make_digest("2025-07-10", intro_en="Draft intro.")
    history.keep_baseline([digest])  # a version from when the day was a draft with no times
    sent = timezone.now()
    Digest.objects.filter(pk=digest.pk).update(
        status="sent", scheduled_at=sent, sent_at=sent, planned_at=sent
    )
    with history.recorded_change(comment="edit"):
        Digest.objects.filter(pk=digest.pk).update(intro_en="Sent intro.")
        reversion.add_to_revision(Digest.objects.get(pk=digest.pk))

    response = client.post(restore_url(digest, history.versions_of(digest)[1]))

    assert response.status_code == 302
    digest.refresh_from_db()
    assert digest.intro_en == "Draft intro."
    assert (digest.status, digest.scheduled_at, digest.sent_at, digest.planned_at) == (
        "sent",
        sent,
        sent,
        sent,
    )
