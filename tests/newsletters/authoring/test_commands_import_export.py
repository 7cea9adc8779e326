"""The import_digest, export_digest and setup_demo commands, run as an editor would run them."""

import datetime
import io
import stat
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from newsletters.models import Digest, Entry, EntryTag, Tag
from tests.conftest import DATA_DIR, SAMPLE_CONTENT
from tests.newsletters.authoring.test_textformat import BAD_FILES

pytestmark = pytest.mark.django_db

BAD_DIR = DATA_DIR / "bad"
GOOD = DATA_DIR / "digest-2025-03-03.txt"
OTHER_GOOD = DATA_DIR / "digest-2025-03-04.txt"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Digest, Entry, EntryTag, Tag)}


def test_import_digest_prints_one_line_per_file():
    out, err = run("import_digest", str(GOOD), str(OTHER_GOOD))

    assert out.splitlines() == [
        "Created digest 2025-03-03 (3 entries)",
        "Created digest 2025-03-04 (3 entries)",
    ]
    assert err == ""
    assert sorted(Digest.objects.values_list("date", flat=True)) == [
        datetime.date(2025, 3, 3),
        datetime.date(2025, 3, 4),
    ]


def test_import_digest_again_reports_what_changed(tmp_path: Path):
    run("import_digest", str(GOOD))
    edited = tmp_path / "edited.txt"
    edited.write_text(
        GOOD.read_text("utf-8").replace("Learning Rate Warmup, Revisited", "Warmup Again"), "utf-8"
    )

    out, _ = run("import_digest", str(edited))

    # Same authors, new title: a corrected title updates its entry rather than replacing it.
    assert out == "Updated digest 2025-03-03 (0 created, 1 updated, 0 removed)\n"
    assert Entry.objects.count() == 3


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_import_digest_refuses_a_malformed_file_naming_file_and_line(name: str):
    path = BAD_DIR / name
    line, words = BAD_FILES[name]
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("import_digest", str(path), stdout=out, stderr=err)

    assert err.getvalue().startswith(f"{path}:{line}: ")
    assert words in err.getvalue()
    assert caught.value.returncode != 0
    assert out.getvalue() == ""
    assert row_counts() == {"Digest": 0, "Entry": 0, "EntryTag": 0, "Tag": 0}


def test_a_bad_file_does_not_stop_the_good_ones_but_the_command_still_fails():
    bad = BAD_DIR / "no-tag-line-at-end.txt"
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 of 3 file"):
        call_command("import_digest", str(GOOD), str(bad), str(OTHER_GOOD), stdout=out, stderr=err)

    assert out.getvalue().splitlines() == [
        "Created digest 2025-03-03 (3 entries)",
        "Created digest 2025-03-04 (3 entries)",
    ]
    assert err.getvalue().startswith(f"{bad}:12: expected a tag line")
    assert not Digest.objects.filter(date=datetime.date(2025, 3, 6)).exists()


def test_import_digest_reports_a_missing_file_and_fails(tmp_path: Path):
    missing = tmp_path / "nope.txt"
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_digest", str(missing), stdout=io.StringIO(), stderr=err)

    assert err.getvalue().startswith(f"{missing}: ")


def test_import_digest_dry_run_reports_without_writing():
    out, _ = run("import_digest", "--dry-run", str(GOOD))

    assert out.splitlines() == [
        "Would create digest 2025-03-03 (3 entries)",
        "  + create #1 Attention Is Not All You Need: Pure Attention Loses Rank Doubly Exponentially"
        " with Depth",
        "  + create #2 Sparse Routing for Mixture-of-Experts at Scale",
        "  + create #3 Learning Rate Warmup, Revisited",
    ]
    assert row_counts() == {"Digest": 0, "Entry": 0, "EntryTag": 0, "Tag": 0}


def stored_rows() -> list[tuple]:
    return [
        *Digest.objects.order_by("pk").values_list(),
        *Entry.objects.order_by("pk").values_list(),
        *EntryTag.objects.order_by("pk").values_list(),
    ]


def edited_copy(tmp_path: Path) -> Path:
    text = GOOD.read_text("utf-8")
    first_title = text.splitlines()[1]
    edited = tmp_path / "edited.txt"
    edited.write_text(
        text.replace(first_title, "A Brand New Paper", 1).replace("\n(", "\n(Someone New, ", 1), "utf-8"
    )
    return edited


def test_import_digest_over_a_sent_day_without_force_fails_and_changes_nothing(tmp_path: Path):
    run("import_digest", str(GOOD))
    Digest.objects.update(status=Digest.Status.SENT)
    before = stored_rows()

    with pytest.raises(CommandError):
        run("import_digest", str(edited_copy(tmp_path)))

    assert stored_rows() == before


def test_import_digest_over_a_sent_day_says_why_and_how(tmp_path: Path):
    run("import_digest", str(GOOD))
    Digest.objects.update(status=Digest.Status.SENT)
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_digest", str(edited_copy(tmp_path)), stdout=io.StringIO(), stderr=err)

    assert "digest 2025-03-03 is sent" in err.getvalue()
    assert "forced" in err.getvalue()


def test_import_digest_with_force_changes_a_sent_day_and_withdraws_what_it_drops(tmp_path: Path):
    run("import_digest", str(GOOD))
    Digest.objects.update(status=Digest.Status.SENT)
    first = Entry.objects.order_by("position").first()

    out, _ = run("import_digest", "--force", str(edited_copy(tmp_path)))

    assert out == "Updated digest 2025-03-03 (1 created, 0 updated, 1 removed)\n"
    first.refresh_from_db()
    assert first.withdrawn_at is not None
    assert Entry.objects.filter(title="A Brand New Paper").exists()


def test_import_digest_dry_run_prints_the_changes_with_old_and_new_text_and_stores_nothing(tmp_path: Path):
    run("import_digest", str(GOOD))
    Digest.objects.update(status=Digest.Status.SENT)
    text = GOOD.read_text("utf-8")
    abstract = text.splitlines()[3]
    edited = tmp_path / "edited.txt"
    edited.write_text(text.replace(abstract, "A corrected abstract."), "utf-8")
    before = stored_rows()

    out, _ = run("import_digest", "--dry-run", str(edited))

    lines = out.splitlines()
    assert lines[0] == "Would update digest 2025-03-03 (0 created, 1 updated, 0 removed)"
    assert "  ! digest 2025-03-03 is sent: applying needs --force" in lines
    update = next(i for i, line in enumerate(lines) if line.startswith("  ~ update #1 "))
    assert lines[update + 1 : update + 4] == [
        "      abstract:",
        f"        - {abstract}",
        "        + A corrected abstract.",
    ]
    assert stored_rows() == before


def test_import_digest_dry_run_warns_of_a_paper_already_featured_on_an_earlier_day(tmp_path: Path):
    text = GOOD.read_text("utf-8")
    earlier = tmp_path / "earlier.txt"
    earlier.write_text(text.replace("2025-03-03", "2025-02-01", 1), "utf-8")
    run("import_digest", str(earlier))

    out, _ = run("import_digest", "--dry-run", str(GOOD))

    assert out.count("      ! already featured on 2025-02-01") == 3


def test_export_digest_prints_the_text_that_was_imported():
    run("import_digest", str(GOOD))

    out, _ = run("export_digest", "2025-03-03")

    assert out == GOOD.read_text("utf-8")


def test_export_digest_writes_the_text_to_a_file(tmp_path: Path):
    run("import_digest", str(OTHER_GOOD))
    target = tmp_path / "out.txt"

    out, _ = run("export_digest", "2025-03-04", "--output", str(target))

    assert target.read_bytes() == OTHER_GOOD.read_bytes()
    assert out == f"Wrote digest 2025-03-04 to {target}\n"


def test_export_digest_refuses_an_unknown_or_malformed_date():
    with pytest.raises(CommandError, match="there is no digest for 2025-01-01"):
        run("export_digest", "2025-01-01")
    with pytest.raises(CommandError, match="expected a date as YYYY-MM-DD"):
        run("export_digest", "March 3rd")


@pytest.fixture
def demo_settings(settings, tmp_path: Path):
    settings.VAR_DIR = tmp_path
    settings.SITE_URL = "http://digest.example"
    settings.MAIL_CATCHER_URL = "http://127.0.0.1:1080"
    return settings


def test_setup_demo_imports_samples_marks_older_days_sent_and_prints_the_login(demo_settings, tmp_path: Path):
    sample_dates = sorted(
        datetime.date.fromisoformat(path.stem.removeprefix("digest-"))
        for path in SAMPLE_CONTENT.glob("*.txt")
    )

    out, _ = run("setup_demo")

    assert sorted(Digest.objects.values_list("date", flat=True)) == sample_dates
    newest = Digest.objects.get(date=sample_dates[-1])
    assert (newest.status, newest.sent_at) == (Digest.Status.DRAFT, None)
    for digest in Digest.objects.exclude(pk=newest.pk):
        assert digest.status == Digest.Status.SENT
        assert digest.sent_at == datetime.datetime.combine(
            digest.date, datetime.time(7), ZoneInfo("Asia/Seoul")
        )
    login_file = tmp_path / "editor-login.txt"
    password = login_file.read_text("utf-8").splitlines()[1].removeprefix("password: ")
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    editor = get_user_model().objects.get(username="editor")
    assert editor.is_staff and not editor.is_superuser
    assert editor.check_password(password)
    assert editor.email == "editor@localhost"
    assert not editor.has_perm("newsletters.send_digest")
    assert "http://digest.example/admin/" in out
    assert f"editor / {password}" in out
    publisher_password = (tmp_path / "publisher-login.txt").read_text("utf-8").splitlines()[1][10:]
    publisher = get_user_model().objects.get(username="publisher")
    assert publisher.check_password(publisher_password) and publisher.email == "publisher@localhost"
    assert publisher.has_perm("newsletters.send_digest")
    assert not publisher.has_perm("subscribers.view_subscriber_email")
    assert f"publisher / {publisher_password}" in out
    assert "http://127.0.0.1:1080" in out
    assert "Staff mail:   nobody (set ADMINS" in out


def test_setup_demo_says_who_gets_staff_mail_and_grants_no_one_more(demo_settings):
    demo_settings.ADMINS = [("Digest staff", "staff@localhost")]

    out, _ = run("setup_demo")

    assert "Staff mail:   staff@localhost" in out
    # Demo logins are staff, never superusers, and only the publisher may move a digest.
    users = get_user_model().objects.all()
    assert {user.username for user in users} == {"editor", "publisher"}
    assert not any(user.is_superuser for user in users)
    assert [user.username for user in users if user.has_perm("newsletters.send_digest")] == ["publisher"]


def test_setup_demo_gives_editors_full_rights_on_tags_entries_and_digests_only(demo_settings):
    run("setup_demo")

    group = Group.objects.get(name="Editors")
    codenames = set(group.permissions.values_list("codename", flat=True))
    for model in ("tag", "entry", "digest"):
        assert {f"add_{model}", f"change_{model}", f"view_{model}", f"delete_{model}"} <= codenames
    assert all(codename.split("_", 1)[1] in {"tag", "entry", "entrytag", "digest"} for codename in codenames)
    editor = get_user_model().objects.get(username="editor")
    assert list(editor.groups.all()) == [group]
    assert editor.has_perm("newsletters.change_entry")
    assert not editor.has_perm("auth.add_user")


def test_setup_demo_run_again_keeps_the_editors_changes_and_password(demo_settings):
    first_out, _ = run("setup_demo")
    counts = row_counts()
    entry = Entry.objects.order_by("pk").first()
    entry.commentary_en = "Edited by the editor."
    entry.save()

    second_out, _ = run("setup_demo")

    assert row_counts() == counts
    assert get_user_model().objects.filter(username="editor").count() == 1
    entry.refresh_from_db()
    assert entry.commentary_en == "Edited by the editor."
    assert "Skipped digest" in second_out and "Created digest" not in second_out
    logins = [line for line in first_out.splitlines() if line.startswith("Login:")]
    assert len(logins) == 2 and all(line in second_out.splitlines() for line in logins)
