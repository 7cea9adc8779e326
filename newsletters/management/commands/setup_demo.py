"""Fill an empty site with sample digests and an editor login, so `make run` shows something real.

Run on every `make run`, so it must be idempotent and must never undo an editor's changes:
days already in the database are skipped, the editor's password is made once and only
printed afterwards.
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
EDITOR_USERNAME = "editor"
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
    group, _ = Group.objects.get_or_create(name=EDITORS_GROUP)
    codenames = [
        f"{action}_{model}" for model in EDITOR_MODELS for action in ("add", "change", "view", "delete")
    ]
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="newsletters", codename__in=codenames)
    )
    return group


def ensure_editor(group: Group, login_file: Path) -> tuple[str, str | None]:
    """Create the staff user `editor` once, with its password in login_file; return (username, password)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=EDITOR_USERNAME).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(EDITOR_USERNAME, password=password, is_staff=True)
        _write_private(login_file, f"username: {EDITOR_USERNAME}\npassword: {password}\n")
    else:
        password = _read_password(login_file)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(group)
    return EDITOR_USERNAME, password


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
    help = "Import sample_content/ digests not yet present and create the Editors group and `editor` login."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--content-dir",
            default=str(Path(settings.BASE_DIR) / "sample_content"),
            help="folder of digest text files (default: sample_content/)",
        )

    def handle(self, *args, content_dir: str, **options) -> None:
        for line in import_sample_content(Path(content_dir)):
            self.stdout.write(line)
        login_file = Path(settings.VAR_DIR) / "editor-login.txt"
        username, password = ensure_editor(ensure_editors_group(), login_file)
        self.stdout.write(f"Admin:        {settings.SITE_URL}/admin/")
        self.stdout.write(f"Username:     {username}")
        if password:
            self.stdout.write(f"Password:     {password}   (kept in {login_file})")
        else:
            self.stdout.write(
                f"Password:     unknown ({login_file} is missing); set one with"
                f" `python manage.py changepassword {username}`"
            )
        if settings.MAIL_CATCHER_URL:
            self.stdout.write(f"Mail catcher: {settings.MAIL_CATCHER_URL}")
