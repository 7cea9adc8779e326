"""Fill an empty site with sample digests and two logins, so `make run` shows the whole job.

`editor` (group Editors) writes and previews digests and sends tests to itself; `publisher`
(group Publishers: the same, plus "Can send digests") schedules, sends, pauses and resumes.
Neither sees readers' addresses. Run on every `make run`, so it must be idempotent and must
never undo anyone's changes: days already in the database are skipped, each password is made
once (kept in var/<name>-login.txt) and printed at every start.
"""

import datetime
import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from newsletters.authoring.importing import import_digest_text
from newsletters.authoring.textformat import parse_digest_bytes
from newsletters.models import Digest

EDITORS_GROUP = "Editors"
PUBLISHERS_GROUP = "Publishers"
EDITOR_USERNAME = "editor"
PUBLISHER_USERNAME = "publisher"
EDITOR_MODELS = ("tag", "entry", "entrytag", "digest")
SENT_AT = datetime.time(7, 0)


def import_sample_content(directory: Path) -> list[str]:
    """Import the days of directory/*.txt not in the database yet; all but the newest count as sent."""
    files = {
        path: parse_digest_bytes(path.read_bytes(), filename=str(path)).date
        for path in directory.glob("*.txt")
    }
    if not files:
        return [f"No sample digests in {directory}"]
    newest = max(files.values())
    present = set(Digest.objects.filter(date__in=files.values()).values_list("date", flat=True))
    lines = []
    for path, date in sorted(files.items(), key=lambda item: item[1]):
        if date in present:
            lines.append(f"Skipped digest {date.isoformat()} (already present)")
            continue
        result = import_digest_text(path.read_bytes(), filename=str(path))
        if date != newest:
            # The archive only shows digests that went out; pretend the older days did, at 07:00.
            result.digest.status = Digest.Status.SENT
            result.digest.sent_at = datetime.datetime.combine(
                date, SENT_AT, tzinfo=ZoneInfo(settings.TIME_ZONE)
            )
            result.digest.save(update_fields=["status", "sent_at", "updated_at"])
        lines.append(f"{result.summary()} [{result.digest.status}]")
    return lines


def ensure_editors_group() -> Group:
    """The Editors group, with add/change/view/delete on tags, entries and digests."""
    return ensure_group(EDITORS_GROUP, send=False)


def ensure_group(name: str, *, send: bool) -> Group:
    """A group with add/change/view/delete on tags, entries and digests; with send, "Can send digests"."""
    group, _ = Group.objects.get_or_create(name=name)
    codenames = [
        f"{action}_{model}" for model in EDITOR_MODELS for action in ("add", "change", "view", "delete")
    ] + (["send_digest"] if send else [])
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="newsletters", codename__in=codenames)
    )
    return group


def ensure_editor(group: Group, login_file: Path, username: str = EDITOR_USERNAME) -> tuple[str, str | None]:
    """Create the staff user once, with an email address and its password in login_file."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    email = f"{username}@localhost"
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(username, email=email, password=password, is_staff=True)
        _write_private(login_file, f"username: {username}\npassword: {password}\n")
    else:
        password = _read_password(login_file)
    if not user.is_staff or not user.email:
        # Test sends go to the login's own address; the mail catcher takes any.
        user.is_staff = True
        user.email = user.email or email
        user.save(update_fields=["is_staff", "email"])
    user.groups.add(group)
    return username, password


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)  # the file may have existed with wider permissions


def _read_password(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(": ")
        if key == "password":
            return value
    return None


class Command(BaseCommand):
    help = "Import sample_content/ digests not yet present; create the `editor` and `publisher` logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--content-dir",
            default=str(Path(settings.BASE_DIR) / "sample_content"),
            help="folder of digest text files (default: sample_content/)",
        )

    def handle(self, *args, content_dir: str, **options) -> None:
        for line in import_sample_content(Path(content_dir)):
            self.stdout.write(line)
        self.stdout.write(f"Admin:        {settings.SITE_URL}/admin/")
        logins = [
            (EDITOR_USERNAME, ensure_group(EDITORS_GROUP, send=False), "writes, previews, tests to itself"),
            (PUBLISHER_USERNAME, ensure_group(PUBLISHERS_GROUP, send=True), "also schedules, sends, pauses"),
        ]
        for name, group, can in logins:
            login_file = Path(settings.VAR_DIR) / f"{name}-login.txt"
            username, password = ensure_editor(group, login_file, name)
            if password:
                self.stdout.write(f"Login:        {username} / {password}   ({can}; kept in {login_file})")
            else:
                self.stdout.write(
                    f"Login:        {username} / unknown ({login_file} is missing); set one with"
                    f" `python manage.py changepassword {username}`"
                )
        if settings.MAIL_CATCHER_URL:
            self.stdout.write(f"Mail catcher: {settings.MAIL_CATCHER_URL}")
        # Who hears of a missed digest or a paused send; this command never sets it (ADMINS does).
        staff = ", ".join(address for _, address in settings.ADMINS)
        self.stdout.write(f"Staff mail:   {staff or 'nobody (set ADMINS to be told of missed digests)'}")
