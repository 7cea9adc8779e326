"""Every version of an entry and a digest is kept, by whoever changed it, and can be restored."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from newsletters.authoring import history
from newsletters.authoring.importing import import_digest_text
from newsletters.delivery import schedule
from newsletters.models import Digest, Entry, Tag
from tests.factories import make_digest, make_entry, make_tag
from tests.newsletters.delivery.helpers import make_staff

pytestmark = pytest.mark.django_db

DAY = """2025-03-06
First Paper
(Ada Lovelace, Alan Turing)
Abstract one.
첫 번째 코멘트.
First comment.
#rl #reasoning
Second Paper
(Grace Hopper)
Abstract two.
두 번째 코멘트.
Second comment.
#moe
"""
DAY_EDITED = DAY.replace("첫 번째 코멘트.", "첫 번째 코멘트를 고쳤다.").replace("#rl #reasoning", "#rl")


def commentaries(entry: Entry) -> list[str]:
    return [version.field_dict["commentary_ko"] for version in history.versions_of(entry)]


def test_the_import_command_keeps_each_changed_entrys_previous_version_with_who_did_it(tmp_path):
    path = tmp_path / "day.txt"
    path.write_text(DAY, encoding="utf-8")
    call_command("import_digest", str(path), stdout=io.StringIO())
    path.write_text(DAY_EDITED, encoding="utf-8")

    call_command("import_digest", str(path), stdout=io.StringIO())

    first = Entry.objects.get(title="First Paper")
    second = Entry.objects.get(title="Second Paper")
    assert commentaries(first) == ["첫 번째 코멘트를 고쳤다.", "첫 번째 코멘트."]
    assert len(history.versions_of(second)) == 1  # unchanged: no new version
    latest = history.versions_of(first)[0].revision
    assert latest.user is None
    assert "Imported digest text day.txt" in latest.comment
    assert f"import_digest command, OS user {history.os_user()}" in latest.comment
    assert [tag.slug for tag in history.stored_tags(history.versions_of(first)[1])] == ["rl", "reasoning"]
    assert [tag.slug for tag in history.stored_tags(history.versions_of(first)[0])] == ["rl"]


def test_an_import_from_the_admin_records_the_staff_user():
    editor = get_user_model().objects.create_user("editor")
    import_digest_text(DAY, user=editor)

    import_digest_text(DAY_EDITED, user=editor)

    revision = history.versions_of(Entry.objects.get(title="First Paper"))[0].revision
    assert revision.user == editor


def test_the_first_recorded_change_of_a_row_made_without_history_keeps_its_text_first():
    digest = make_digest("2025-03-06")
    entry = make_entry(title="First Paper", digest=digest, commentary_ko="편집자의 원래 글.", tags=("old",))
    assert list(history.versions_of(entry)) == []

    import_digest_text(DAY)

    versions = history.versions_of(entry)
    assert commentaries(entry) == ["첫 번째 코멘트.", "편집자의 원래 글."]
    assert versions[1].revision.comment == history.BASELINE_COMMENT
    assert [tag.slug for tag in history.stored_tags(versions[1])] == ["old"]


def test_a_dry_run_and_an_unchanged_reimport_add_no_version():
    import_digest_text(DAY)
    entry = Entry.objects.get(title="First Paper")

    import_digest_text(DAY_EDITED, dry_run=True)
    import_digest_text(DAY)

    assert len(history.versions_of(entry)) == 1


def test_restoring_brings_back_text_and_tags_and_is_itself_a_new_version():
    editor = get_user_model().objects.create_user("editor")
    import_digest_text(DAY)
    import_digest_text(DAY_EDITED)
    entry = Entry.objects.get(title="First Paper")
    old = history.versions_of(entry)[1]

    history.restore_version(obj=entry, version=old, user=editor)

    entry.refresh_from_db()
    assert entry.commentary_ko == "첫 번째 코멘트."
    assert [tag.slug for tag in entry.ordered_tags()] == ["rl", "reasoning"]
    versions = history.versions_of(entry)
    assert len(versions) == 3
    assert versions[0].revision.user == editor
    assert f"(version {old.pk})" in versions[0].revision.comment
    assert [tag.slug for tag in history.stored_tags(versions[0])] == ["rl", "reasoning"]


def test_restoring_a_version_whose_tag_was_deleted_since_brings_the_tag_back():
    make_tag("reasoning", name="Reasoning", description="Thinking models.")
    import_digest_text(DAY)
    import_digest_text(DAY.replace("First comment.", "Edited."))
    entry = Entry.objects.get(title="First Paper")
    old = history.versions_of(entry)[1]
    Tag.objects.filter(slug="reasoning").delete()

    history.restore_version(obj=entry, version=old, user=None)

    tag = Tag.objects.get(slug="reasoning")
    assert (tag.name, tag.description) == ("Reasoning", "Thinking models.")
    assert [tag.slug for tag in entry.ordered_tags()] == ["rl", "reasoning"]


def test_restoring_onto_an_entry_of_a_sent_digest_works_and_is_recorded():
    import_digest_text(DAY)
    import_digest_text(DAY_EDITED)
    Digest.objects.update(status=Digest.Status.SENT)
    entry = Entry.objects.get(title="First Paper")

    history.restore_version(obj=entry, version=history.versions_of(entry)[1], user=None)

    entry.refresh_from_db()
    assert entry.commentary_ko == "첫 번째 코멘트."
    assert len(history.versions_of(entry)) == 3


def test_restoring_waits_while_the_digest_is_being_sent():
    import_digest_text(DAY)
    import_digest_text(DAY_EDITED)
    Digest.objects.update(status=Digest.Status.SENDING)
    entry = Entry.objects.get(title="First Paper")

    with pytest.raises(history.RestoreError, match="being sent"):
        history.restore_version(obj=entry, version=history.versions_of(entry)[1], user=None)

    entry.refresh_from_db()
    assert entry.commentary_ko == "첫 번째 코멘트를 고쳤다."
    assert len(history.versions_of(entry)) == 2


def test_restoring_an_arxiv_id_another_entry_took_since_is_refused():
    entry = make_entry(arxiv_id="2506.01939")
    history.keep_baseline([entry])
    entry.arxiv_id = ""
    entry.save()
    make_entry(arxiv_id="2506.01939")

    with pytest.raises(history.RestoreError, match="2506.01939"):
        history.restore_version(obj=entry, version=history.versions_of(entry)[0], user=None)


def test_restoring_a_digest_brings_back_its_introduction_but_never_its_sending_state():
    digest = make_digest("2025-03-06", intro_ko="원래 소개.", intro_en="First intro.")
    history.keep_baseline([digest])
    with history.recorded_change(comment="edit"):
        Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENT)
        digest.refresh_from_db()
        digest.intro_ko = "바뀐 소개."
        digest.save()

    history.restore_version(obj=digest, version=history.versions_of(digest)[1], user=None)

    digest.refresh_from_db()
    assert (digest.intro_ko, digest.status) == ("원래 소개.", Digest.Status.SENT)


def test_restoring_an_old_title_of_a_sent_entry_keeps_every_link_readers_were_sent(client):
    import_digest_text(DAY)
    Digest.objects.update(status=Digest.Status.SENT)
    entry = Entry.objects.get(title="First Paper")
    first_url = entry.get_absolute_url()
    import_digest_text(DAY.replace("First Paper", "First Paper, Renamed"), force=True)
    entry.refresh_from_db()
    renamed_url = entry.get_absolute_url()
    original = next(v for v in history.versions_of(entry) if v.field_dict["title"] == "First Paper")

    history.restore_version(obj=entry, version=original, user=None)

    entry.refresh_from_db()
    assert entry.title == "First Paper"
    assert renamed_url != first_url
    for url in (first_url, renamed_url):
        response = client.get(url)
        assert response.status_code in (200, 301), url
        if response.status_code == 301:
            assert response["Location"].endswith(entry.get_absolute_url())


def test_restoring_an_earlier_arxiv_id_keeps_the_later_id_link_readers_were_sent(client):
    entry = make_entry(digest=make_digest("2025-07-10", status=Digest.Status.SENT), arxiv_id="2501.00001")
    with history.recorded_change(user=None, comment="typo fixed", before=[entry]):
        entry.arxiv_id = "2501.00002"
        entry.save()
    first = next(v for v in history.versions_of(entry) if v.field_dict["arxiv_id"] == "2501.00001")

    history.restore_version(obj=entry, version=first, user=None)

    response = client.get("/papers/2501.00002/")
    assert response.status_code == 301
    assert response["Location"].endswith("/papers/2501.00001/")


SENDING_STATE = ("status", "scheduled_at", "sent_at", "planned_at")


def sending_state(digest: Digest) -> tuple:
    digest.refresh_from_db()
    return tuple(getattr(digest, name) for name in SENDING_STATE)


def test_a_restore_writes_only_text_never_a_digests_sending_state():
    digest = make_digest("2025-03-06", intro_en="First intro.")
    entry = make_entry(digest=digest, position=1, commentary_en="First comment.")
    history.keep_baseline([digest, entry])  # versions holding status draft, no times
    with history.recorded_change(comment="edit"):
        digest.intro_en, entry.commentary_en = "Second intro.", "Second comment."
        digest.save()
        entry.save()
    sent = timezone.now()
    Digest.objects.filter(pk=digest.pk).update(
        status=Digest.Status.SENT, scheduled_at=sent, sent_at=sent, planned_at=sent
    )
    before = sending_state(digest)

    with CaptureQueriesContext(connection) as queries:
        history.restore_version(obj=digest, version=history.versions_of(digest)[1], user=None)
        history.restore_version(obj=entry, version=history.versions_of(entry)[1], user=None)

    assert sending_state(digest) == before == (Digest.Status.SENT, sent, sent, sent)
    assert digest.intro_en == "First intro."
    entry.refresh_from_db()
    assert entry.commentary_en == "First comment."
    table = Digest._meta.db_table
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')]
    assert updates and not any(f'"{name}"' in sql for sql in updates for name in SENDING_STATE), updates


def test_a_schedule_changed_while_a_restore_runs_is_kept(monkeypatch):
    publisher = make_staff("publisher", can_send=True)
    digest = make_digest("2025-03-06", intro_en="First intro.")
    history.keep_baseline([digest])
    first = timezone.now() + datetime.timedelta(days=1)
    schedule.schedule_send(digest_id=digest.pk, user=publisher, at=first)
    with history.recorded_change(comment="edit"):
        digest.refresh_from_db()
        digest.intro_en = "Second intro."
        digest.save()
    later = first + datetime.timedelta(hours=3)

    def publisher_reschedules(sender, instance, **kwargs):
        # The publisher presses Schedule after the restore read the row, before it writes.
        schedule.schedule_send(digest_id=instance.pk, user=publisher, at=later)

    pre_save.connect(publisher_reschedules, sender=Digest)
    try:
        history.restore_version(obj=digest, version=history.versions_of(digest)[1], user=None)
    finally:
        pre_save.disconnect(publisher_reschedules, sender=Digest)

    assert sending_state(digest)[:2] == (Digest.Status.SCHEDULED, later)
    assert digest.intro_en == "First intro."


def test_restoring_waits_while_the_send_is_paused():
    import_digest_text(DAY)
    import_digest_text(DAY_EDITED)
    Digest.objects.update(status=Digest.Status.PAUSED)
    entry = Entry.objects.get(title="First Paper")

    with pytest.raises(history.RestoreError, match="being sent"):
        history.restore_version(obj=entry, version=history.versions_of(entry)[1], user=None)
    entry.refresh_from_db()
    assert entry.commentary_ko == "첫 번째 코멘트를 고쳤다."
