"""The subscriber admin: who may see addresses, filters, counts per tag, CSV import and export."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from subscribers.csvfiles import import_subscribers
from subscribers.models import Subscriber
from tests.factories import make_tag
from tests.subscribers.helpers import make_subscriber

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/subscribers/subscriber/"
IMPORT = "/admin/subscribers/subscriber/import/"
COUNTS = "/admin/subscribers/subscriber/tag-counts/"


def staff(username: str, *codenames: str, group: Group | None = None) -> User:
    user = User.objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    if group:
        user.groups.add(group)
    return user


@pytest.fixture
def manager_client(client):
    user = staff("manager", "view_subscriber", "change_subscriber", "add_subscriber", "view_subscriber_email")
    client.force_login(user)
    return client


def upload(client, text: str):
    return client.post(IMPORT, {"file": SimpleUploadedFile("list.csv", text.encode())})


def test_an_editor_cannot_see_subscriber_addresses(client, alice):
    editors = Group.objects.create(name="Editors")
    editors.permissions.add(*Permission.objects.filter(content_type__app_label="newsletters"))
    client.force_login(staff("editor", group=editors))
    for url in (CHANGELIST, f"{CHANGELIST}{alice.pk}/change/", IMPORT, COUNTS):
        assert client.get(url).status_code == 403
    assert "alice@example.com" not in client.get("/admin/").content.decode()


def test_the_counts_page_needs_no_address_permission_and_shows_none(client, alice, bob):
    client.force_login(staff("counter", "view_subscriber"))
    assert client.get(CHANGELIST).status_code == 403
    page = client.get(COUNTS).content.decode()
    assert "#rl" in page and "alice@example.com" not in page


def test_counts_per_tag_include_readers_who_take_every_tag(manager_client, alice, bob):
    make_subscriber("all@example.com", tags=())
    make_subscriber("gone@example.com", Subscriber.Status.UNSUBSCRIBED, tags=("rl",))
    make_tag("vision")
    response = manager_client.get(COUNTS)
    rows = {tag.slug: (tag.active_count, tag.total_count) for tag in response.context["tags"]}
    assert rows["rl"] == (1, 2)
    assert rows["vision"] == (0, 0)
    assert response.context["every_tag"] == 1
    assert '<td class="reach">2</td>' in response.content.decode()


def test_the_list_can_be_searched_and_filtered(manager_client, alice, bob, carol):
    make_subscriber("ko-reader@example.com", language="ko", tags=("vision",))
    found = manager_client.get(CHANGELIST, {"q": "ALICE"}).context["cl"].result_list
    assert [s.email for s in found] == ["alice@example.com"]
    by_state = manager_client.get(CHANGELIST, {"state__exact": "unsubscribed"}).context["cl"].result_list
    assert [s.email for s in by_state] == ["carol@example.com"]
    by_language = manager_client.get(CHANGELIST, {"language__exact": "ko"}).context["cl"].result_list
    assert [s.email for s in by_language] == ["ko-reader@example.com"]
    vision = Subscriber.objects.get(email="ko-reader@example.com").tags.get()
    by_tag = manager_client.get(CHANGELIST, {"tags__id__exact": vision.pk}).context["cl"].result_list
    assert [s.email for s in by_tag] == ["ko-reader@example.com"]


def test_nobody_can_delete_a_subscriber_in_the_admin(admin_client, alice):
    assert admin_client.get(f"{CHANGELIST}{alice.pk}/delete/").status_code == 403
    assert Subscriber.objects.filter(pk=alice.pk).exists()


def test_the_change_page_shows_the_history(manager_client, alice):
    alice.unsubscribe(source="one-click")
    page = manager_client.get(f"{CHANGELIST}{alice.pk}/change/").content.decode()
    assert "one-click" in page and "unsubscribed" in page


def test_a_clean_csv_imports_every_row_and_merges_duplicates(manager_client, alice):
    make_tag("rl")
    make_tag("vision")
    text = (
        "email,language,tags\n"
        "New@Example.com,ko,rl\n"
        "alice@example.com,ko,vision\n"
        "new@example.com,en,#vision\n"
        "other@example.com,,\n"
    )
    response = upload(manager_client, text)
    report = response.context["report"]
    assert report.imported
    assert sorted(report.created) == ["new@example.com", "other@example.com"]
    assert report.unchanged == ["alice@example.com"]
    assert report.merged == ["line 4: new@example.com merged into line 2"]
    new = Subscriber.objects.get(email="new@example.com")
    assert (new.state, new.language, new.chosen_tag_slugs()) == ("active", "both", ["rl", "vision"])
    assert new.events.get().source == "csv-import:manager"
    other = Subscriber.objects.get(email="other@example.com")
    assert other.language == "both" and other.wants_every_tag()
    alice.refresh_from_db()
    assert alice.language == "en" and alice.chosen_tag_slugs() == ["reasoning", "rl"]


def test_a_csv_with_bad_rows_reports_every_one_and_imports_nothing(manager_client):
    make_tag("rl")
    text = (
        "email,language,tags\n"
        "good@example.com,ko,rl\n"
        "not-an-address,ko,rl\n"
        "fr@example.com,fr,rl\n"
        "tags@example.com,en,rl nope\n"
        ",en,rl\n"
        "also-good@example.com,en,\n"
    )
    response = upload(manager_client, text)
    report = response.context["report"]
    assert report.rejected == [
        "line 3: 'not-an-address' is not a valid email address",
        "line 4: unknown language 'fr' (use ko, en or both)",
        "line 5: unknown tag(s) nope",
        "line 6: no email address",
    ]
    page = response.content.decode()
    assert "4 rejected rows" in page and "line 5: unknown tag(s) nope" in page
    assert not Subscriber.objects.exists()


def test_a_csv_without_a_header_is_rejected(manager_client):
    report = upload(manager_client, "a@example.com,ko,rl\n").context["report"]
    assert report.rejected == ["line 1: the first line must name the columns: email,language,tags"]
    assert not Subscriber.objects.exists()


def test_an_import_never_brings_back_a_reader_who_left(carol):
    import_subscribers("email\ncarol@example.com\n")
    carol.refresh_from_db()
    assert carol.state == "unsubscribed"


def test_the_export_lists_the_selected_subscribers(manager_client, alice, carol):
    make_subscriber("=cmd@example.com")
    response = manager_client.post(
        CHANGELIST,
        {"action": "export_csv", "_selected_action": [s.pk for s in Subscriber.objects.all()]},
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["email", "language", "tags", "state", "created_at", "confirmed_at"]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["alice@example.com"][1:4] == ["en", "reasoning rl", "active"]
    assert by_email["carol@example.com"][3] == "unsubscribed"
    assert "'=cmd@example.com" in by_email


def test_an_export_imports_back_unchanged(manager_client, alice):
    response = manager_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [alice.pk]})
    Subscriber.objects.filter(pk=alice.pk).update(email="renamed@example.com")
    report = import_subscribers(response.content.decode())
    assert report.created == ["alice@example.com"]
    again = Subscriber.objects.get(email="alice@example.com")
    assert (again.language, again.chosen_tag_slugs()) == ("en", ["reasoning", "rl"])
