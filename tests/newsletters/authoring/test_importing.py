"""Importing a day's text into the database and exporting it back."""

import datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, given, settings

from newsletters.authoring.importing import (
    DigestLockedError,
    DigestProtectedError,
    FieldChange,
    StaleImportError,
    apply_digest_import,
    export_digest_text,
    import_digest_text,
    plan_digest_import,
)
from newsletters.authoring.textformat import DigestFormatError, ParsedDigest, format_digest_text
from newsletters.models import Digest, Entry, EntryTag, Tag
from tests.conftest import DATA_DIR, SAMPLE_CONTENT, digest_text_files
from tests.factories import make_digest, make_entry
from tests.newsletters.authoring.test_textformat import BAD_FILES, parsed_digests

pytestmark = pytest.mark.django_db

BAD_DIR = DATA_DIR / "bad"
TWO_ENTRIES = """2025-03-06
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


def fixture_text(name: str) -> str:
    return (DATA_DIR / name).read_text(encoding="utf-8")


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Digest, Entry, EntryTag, Tag)}


def titles_in_order(digest: Digest) -> list[str]:
    return [entry.title for entry in digest.ordered_entries()]


def test_importing_a_day_creates_its_digest_and_entries_in_file_order():
    editor = get_user_model().objects.create_user("editor")

    result = import_digest_text(fixture_text("digest-2025-03-03.txt"), user=editor)

    digest = Digest.objects.get(date=datetime.date(2025, 3, 3))
    assert (result.digest, result.created, result.entries_created) == (digest, True, 3)
    assert digest.date_format == "iso"
    assert digest.status == Digest.Status.DRAFT
    assert titles_in_order(digest) == [
        "Attention Is Not All You Need: Pure Attention Loses Rank Doubly Exponentially with Depth",
        "Sparse Routing for Mixture-of-Experts at Scale",
        "Learning Rate Warmup, Revisited",
    ]
    routing = digest.ordered_entries()[1]
    assert routing.authors == ["Yang (Katie)Zhao", "Yu (Kevin)Cao", "Min-Jun Park", "Seo-yeon (Sunny) Lee"]
    assert [tag.slug for tag in routing.ordered_tags()] == ["moe", "efficiency", "distributed-training"]
    assert (
        routing.commentary_en == "Group experts that fire together on one device to cut all-to-all traffic."
    )
    assert routing.created_by == editor
    assert result.summary() == "Created digest 2025-03-03 (3 entries)"


def test_importing_bytes_reads_utf8_and_remembers_a_korean_date_line():
    import_digest_text(fixture_text("digest-2025-03-04.txt").encode("utf-8"))

    digest = Digest.objects.get(date=datetime.date(2025, 3, 4))
    assert digest.date_format == "ko"
    assert digest.ordered_entries()[0].commentary_ko.count("\n\n") == 2


def test_reimporting_the_same_file_changes_nothing_and_duplicates_nothing():
    import_digest_text(TWO_ENTRIES)
    before = {entry.pk: entry.updated_at for entry in Entry.objects.all()}

    result = import_digest_text(TWO_ENTRIES)

    assert (result.created, result.entries_created, result.entries_updated, result.entries_removed) == (
        False,
        0,
        0,
        0,
    )
    assert result.entries_unchanged == 2
    assert {entry.pk: entry.updated_at for entry in Entry.objects.all()} == before
    assert Digest.objects.count() == 1


def test_reimporting_an_edited_day_updates_entries_in_place():
    import_digest_text(fixture_text("digest-2025-03-03.txt"))
    digest = Digest.objects.get()
    ids = {entry.title: entry.pk for entry in digest.entries.all()}
    attention, routing, warmup = titles_in_order(digest)
    lines = fixture_text("digest-2025-03-03.txt").split("\n")
    # Swap the last two entries, drop the first, and change one Korean commentary line.
    edited = "\n".join([lines[0]] + lines[15:23] + lines[9:15] + [""]).replace(
        "같이 활성화되는 Expert를", "함께 활성화되는 Expert를"
    )

    result = import_digest_text(edited)

    assert (result.entries_created, result.entries_updated, result.entries_removed) == (0, 2, 1)
    assert result.summary() == "Updated digest 2025-03-03 (0 created, 2 updated, 1 removed)"
    assert titles_in_order(digest) == [warmup, routing]
    assert {entry.title: entry.pk for entry in digest.entries.all()} == {
        warmup: ids[warmup],
        routing: ids[routing],
    }
    assert not Entry.objects.filter(pk=ids[attention]).exists()
    assert Entry.objects.get(pk=ids[routing]).commentary_ko.startswith("함께 활성화되는 Expert를")
    assert export_digest_text(digest) == edited


def test_a_title_differing_only_in_case_and_spaces_updates_the_same_entry():
    import_digest_text(TWO_ENTRIES)
    first = Entry.objects.get(title="First Paper")

    import_digest_text(TWO_ENTRIES.replace("First Paper", "first  PAPER"))

    first.refresh_from_db()
    assert first.title == "first  PAPER"
    assert Entry.objects.count() == 2


def test_changed_tags_replace_the_old_ones_in_the_new_order():
    import_digest_text(TWO_ENTRIES)

    import_digest_text(TWO_ENTRIES.replace("#rl #reasoning", "#reasoning #new-tag #rl"))

    entry = Entry.objects.get(title="First Paper")
    assert [tag.slug for tag in entry.ordered_tags()] == ["reasoning", "new-tag", "rl"]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_malformed_file_is_refused_and_leaves_the_database_untouched(name: str):
    import_digest_text(TWO_ENTRIES)
    before = row_counts()
    line, _ = BAD_FILES[name]

    with pytest.raises(DigestFormatError) as caught:
        import_digest_text((BAD_DIR / name).read_bytes(), filename=name)

    assert str(caught.value).startswith(f"{name}:{line}: ")
    assert row_counts() == before


def test_a_tag_longer_than_its_column_is_refused_before_anything_is_written():
    text = TWO_ENTRIES.replace("#moe", "#" + "x" * 65)

    with pytest.raises(DigestFormatError) as caught:
        import_digest_text(text, filename="long.txt")

    assert str(caught.value).startswith("long.txt:8: expected tags of at most 64 characters")
    assert row_counts() == {"Digest": 0, "Entry": 0, "EntryTag": 0, "Tag": 0}


def test_a_digest_being_sent_refuses_an_import():
    make_digest("2025-03-06", status=Digest.Status.SENDING)

    with pytest.raises(DigestLockedError, match="is sending: its emails are already rendered"):
        import_digest_text(TWO_ENTRIES)

    assert Entry.objects.count() == 0


def day_rows() -> list[tuple]:
    """Every stored value of every digest and entry, to show that nothing changed."""
    digests = list(Digest.objects.order_by("pk").values_list())
    entries = list(Entry.objects.order_by("pk").values_list())
    tags = list(EntryTag.objects.order_by("pk").values_list("entry_id", "tag__slug", "position"))
    return [*digests, *entries, *tags]


@pytest.mark.parametrize("status", [Digest.Status.SENT, Digest.Status.SCHEDULED])
def test_a_day_readers_have_is_not_changed_without_force(status: str):
    import_digest_text(TWO_ENTRIES)
    Digest.objects.update(status=status)
    before = day_rows()

    with pytest.raises(DigestProtectedError, match=f"is {status}"):
        import_digest_text(TWO_ENTRIES.replace("First comment.", "First comment, corrected."))

    assert day_rows() == before


def test_a_sent_digest_may_be_corrected_when_forced():
    import_digest_text(TWO_ENTRIES)
    Digest.objects.update(status=Digest.Status.SENT)

    import_digest_text(TWO_ENTRIES.replace("First comment.", "First comment, corrected."), force=True)

    assert Entry.objects.get(title="First Paper").commentary_en == "First comment, corrected."
    assert Digest.objects.get().status == Digest.Status.SENT


def test_an_entry_dropped_from_a_sent_day_is_withdrawn_not_deleted():
    import_digest_text(TWO_ENTRIES)
    Digest.objects.update(status=Digest.Status.SENT)
    first_only = TWO_ENTRIES[: TWO_ENTRIES.index("Second Paper")]

    result = import_digest_text(first_only, force=True)

    assert result.entries_removed == 1
    second = Entry.objects.get(title="Second Paper")
    assert second.withdrawn_at is not None
    assert export_digest_text(result.digest) == first_only


def test_an_entry_dropped_from_a_draft_day_is_deleted():
    import_digest_text(TWO_ENTRIES)

    import_digest_text(TWO_ENTRIES[: TWO_ENTRIES.index("Second Paper")])

    assert not Entry.objects.filter(title="Second Paper").exists()


def test_a_withdrawn_entry_pasted_back_is_published_again_with_its_old_link():
    import_digest_text(TWO_ENTRIES)
    Digest.objects.update(status=Digest.Status.SENT)
    slug = Entry.objects.get(title="Second Paper").slug
    import_digest_text(TWO_ENTRIES[: TWO_ENTRIES.index("Second Paper")], force=True)

    result = import_digest_text(TWO_ENTRIES, force=True)

    assert (result.entries_created, result.entries_updated) == (0, 1)
    second = Entry.objects.get(title="Second Paper")
    assert (second.withdrawn_at, second.slug) == (None, slug)


def test_a_corrected_title_updates_its_entry_and_keeps_the_old_link(client):
    import_digest_text(TWO_ENTRIES)
    Digest.objects.update(status=Digest.Status.SENT)
    entry = Entry.objects.get(title="Second Paper")

    result = import_digest_text(TWO_ENTRIES.replace("Second Paper", "The Second Paper"), force=True)

    assert (result.entries_created, result.entries_updated, result.entries_removed) == (0, 1, 0)
    entry.refresh_from_db()
    assert (entry.title, entry.slug) == ("The Second Paper", "the-second-paper")
    response = client.get("/papers/second-paper/")
    assert (response.status_code, response["Location"]) == (301, "/papers/the-second-paper/")


def test_the_plan_lists_created_updated_and_removed_entries_with_old_and_new_text():
    import_digest_text(TWO_ENTRIES)
    edited = TWO_ENTRIES.replace("First comment.", "First comment, corrected.").replace(
        "Second Paper\n(Grace Hopper)", "Third Paper\n(Someone Else)"
    )

    plan = plan_digest_import(edited)

    assert [(p.action, p.title) for p in plan.entries] == [
        ("update", "First Paper"),
        ("create", "Third Paper"),
        ("remove", "Second Paper"),
    ]
    assert plan.entries[0].changes == (
        FieldChange("commentary_en", "First comment.", "First comment, corrected."),
    )


def test_applying_a_plan_after_the_day_changed_is_refused_and_changes_nothing():
    import_digest_text(TWO_ENTRIES)
    plan = plan_digest_import(TWO_ENTRIES.replace("First comment.", "From the preview."))
    Entry.objects.filter(title="First Paper").update(commentary_en="Another editor's fix.")
    before = day_rows()

    with pytest.raises(StaleImportError, match="changed since"):
        apply_digest_import(plan)

    assert day_rows() == before


def test_applying_the_same_plan_twice_imports_once():
    import_digest_text(TWO_ENTRIES)
    plan = plan_digest_import(
        TWO_ENTRIES + TWO_ENTRIES[TWO_ENTRIES.index("Second Paper") :].replace("Second", "Third")
    )
    apply_digest_import(plan)

    with pytest.raises(StaleImportError):
        apply_digest_import(plan)

    assert Entry.objects.count() == 3


def test_a_title_that_already_appears_in_another_digest_is_imported_anyway():
    other_day = make_digest("2025-03-01")
    make_entry(title="First Paper", digest=other_day)

    result = import_digest_text(TWO_ENTRIES)

    assert result.entries_created == 2
    assert Entry.objects.filter(title="First Paper").count() == 2
    assert other_day.entries.count() == 1


def test_a_dry_run_reports_the_changes_but_writes_nothing():
    import_digest_text(TWO_ENTRIES)
    before = row_counts()

    edited = TWO_ENTRIES.replace("Second Paper\n(Grace Hopper)", "Another Paper\n(Someone Else)")

    result = import_digest_text(edited, dry_run=True)

    assert result.summary() == "Would update digest 2025-03-06 (1 created, 0 updated, 1 removed)"
    assert row_counts() == before
    assert titles_in_order(Digest.objects.get()) == ["First Paper", "Second Paper"]


@pytest.mark.parametrize("path", digest_text_files(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_exporting_an_imported_file_gives_back_the_same_text(path: Path):
    text = path.read_text(encoding="utf-8")

    result = import_digest_text(text)

    assert export_digest_text(result.digest) == (text if text.endswith("\n") else text + "\n")


def test_export_follows_the_positions_and_tag_order_set_in_the_admin():
    digest = make_digest("2025-03-07", date_format="ko")
    later = make_entry(digest=digest, position=2, title="Later", authors=["B"], abstract="Two.", tags=())
    earlier = make_entry(digest=digest, position=1, title="Earlier", authors=["A"], abstract="One.", tags=())
    later.set_tags(["rl", "llm"])
    earlier.set_tags(["moe"])

    text = export_digest_text(digest)

    assert text == (
        "2025년 3월 7일\n"
        "Earlier\n(A)\nOne.\n흥미로운 연구네요.\nAn interesting study.\n#moe\n"
        "Later\n(B)\nTwo.\n흥미로운 연구네요.\nAn interesting study.\n#rl #llm\n"
    )


def test_reimporting_an_unchanged_day_costs_the_same_few_queries_however_long_it_is(
    django_assert_max_num_queries,
):
    small = TWO_ENTRIES
    large = (SAMPLE_CONTENT / "digest-2025-06-19.txt").read_text("utf-8")
    import_digest_text(small)
    import_digest_text(large)

    with django_assert_max_num_queries(8) as small_queries:
        import_digest_text(small)
    with django_assert_max_num_queries(8) as large_queries:
        import_digest_text(large)

    assert len(small_queries.captured_queries) == len(large_queries.captured_queries)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parsed_digests)
def test_any_writable_digest_survives_import_then_export(digest: ParsedDigest):
    text = format_digest_text(digest)

    # Each example rolls back, so examples cannot see each other's rows.
    with transaction.atomic():
        result = import_digest_text(text)
        exported = export_digest_text(result.digest)
        transaction.set_rollback(True)

    assert exported == text


def test_a_day_pasted_again_with_a_tag_line_missing_is_refused_and_changes_nothing():
    text = fixture_text("digest-2025-03-04.txt")
    import_digest_text(text)
    before = row_counts()
    entries_before = list(Entry.objects.values_list("title", "commentary_en"))
    edited = text.replace("#diffusion #image-generation\n", "", 1)

    with pytest.raises(DigestFormatError) as caught:
        import_digest_text(edited, filename="day.txt")

    assert caught.value.line == 11
    assert "the tag line of the entry that starts on line 2 seems missing" in caught.value.message
    assert row_counts() == before
    assert list(Entry.objects.values_list("title", "commentary_en")) == entries_before
