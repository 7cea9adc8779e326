"""A tag readers follow is never deleted silently: the editor merges it into another tag."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from newsletters.authoring import history
from newsletters.models import Entry, Tag
from subscribers.models import Subscriber
from tests.factories import make_entry, make_tag

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/newsletters/tag/"


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    settings.LANGUAGE_CODE = "en"


def reader(email: str, *slugs: str) -> Subscriber:
    subscriber = Subscriber.objects.create(email=email, state="active")
    subscriber.tags.set([make_tag(slug) for slug in slugs])
    return subscriber


def test_a_followed_tag_cannot_be_deleted_from_its_page(admin_client):
    alice = reader("alice@example.com", "rl")
    tag = Tag.objects.get(slug="rl")

    page = admin_client.get(reverse("admin:newsletters_tag_change", args=[tag.pk])).content.decode()
    response = admin_client.post(reverse("admin:newsletters_tag_delete", args=[tag.pk]), {"post": "yes"})

    assert "deletelink" not in page
    assert response.status_code == 403
    assert alice.chosen_tag_slugs() == ["rl"]


def test_bulk_delete_keeps_followed_tags_and_says_why(admin_client):
    reader("alice@example.com", "rl")
    make_tag("unused")
    ids = list(Tag.objects.values_list("pk", flat=True))

    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": ids, "post": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert "#rl: readers follow it; merge it into another tag instead" in response.content.decode()
    assert sorted(Tag.objects.values_list("slug", flat=True)) == ["rl", "unused"]


def test_merging_moves_readers_and_entries_then_deletes_the_old_tag(admin_client):
    only_rl = reader("alice@example.com", "rl")
    both = reader("bob@example.com", "rl", "reinforcement")
    everything = reader("carol@example.com")
    entry = make_entry(tags=())
    entry.set_tags(["llm", "rl"])
    already = make_entry(tags=())
    already.set_tags(["reinforcement", "rl"])
    old_url = entry.get_absolute_url()
    rl = Tag.objects.get(slug="rl")
    into = Tag.objects.get(slug="reinforcement")

    page = admin_client.post(CHANGELIST, {"action": "merge_into", "_selected_action": [rl.pk]})
    assert "Merge into" in page.content.decode() and "1 reader" not in page.content.decode()
    response = admin_client.post(
        CHANGELIST,
        {"action": "merge_into", "_selected_action": [rl.pk], "into": "reinforcement", "apply": "1"},
        follow=True,
    )

    assert "Merged 1 tags into #reinforcement: 2 readers and 2 entries moved." in response.content.decode()
    assert not Tag.objects.filter(slug="rl").exists()
    assert only_rl.chosen_tag_slugs() == ["reinforcement"]
    assert both.chosen_tag_slugs() == ["reinforcement"]
    assert everything.chosen_tag_slugs() == []  # an all-topics reader stays one
    assert [tag.slug for tag in Entry.objects.get(pk=entry.pk).ordered_tags()] == ["llm", "reinforcement"]
    assert [tag.slug for tag in Entry.objects.get(pk=already.pk).ordered_tags()] == ["reinforcement"]
    assert into.subscribers.count() == 2
    # Permalinks do not move; the entry's history keeps the old tag in its earlier version.
    assert Entry.objects.get(pk=entry.pk).get_absolute_url() == old_url
    versions = history.versions_of(entry)
    assert [tag.slug for tag in history.stored_tags(versions[1])] == ["llm", "rl"]
    assert [tag.slug for tag in history.stored_tags(versions[0])] == ["llm", "reinforcement"]


def test_a_tag_cannot_be_merged_into_itself(admin_client):
    rl = make_tag("rl")
    response = admin_client.post(
        CHANGELIST, {"action": "merge_into", "_selected_action": [rl.pk], "into": "rl", "apply": "1"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Tag.objects.filter(slug="rl").exists()


@pytest.mark.parametrize("codenames", [["view_tag", "change_tag"], ["view_tag", "delete_tag"]])
def test_merging_needs_both_the_change_and_the_delete_permission(client, django_user_model, codenames):
    editor = django_user_model.objects.create_user("ed", password="pw", is_staff=True)
    editor.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_tag", "change_tag"], content_type__app_label="newsletters"
        )
    )
    client.force_login(editor)
    rl = make_tag("rl")
    make_tag("other")
    client.post(
        CHANGELIST, {"action": "merge_into", "_selected_action": [rl.pk], "into": "other", "apply": "1"}
    )
    assert Tag.objects.filter(slug="rl").exists()
