"""Revision history of the editor's work: every saved state of an entry or a digest, and restoring one.

django-reversion stores the versions (one revision per change: who, when, why). This module says
what is versioned, records a change around the code that makes it, and puts an old version's
text back. It never decides whether a change is allowed: callers check permissions first.
"""

import datetime
import getpass
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import reversion
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone
from reversion.errors import RevertError
from reversion.models import Version

from newsletters.authoring import permalinks
from newsletters.models import Digest, Entry, EntryTag, Tag

# An entry's version carries its ordered tags (EntryTag rows) and those tags' slugs, so it can be
# restored even after a tag was renamed or deleted. A digest's version is its own row only.
reversion.register(Entry, follow=["entry_tags"])
reversion.register(EntryTag, follow=["tag"])
reversion.register(Tag)
reversion.register(Digest)

# What a restore puts back. Not the digest, position or slug (where the entry sits and its
# permalink), and never a digest's status or schedule: only the send permission moves a digest.
RESTORED_FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    Entry: (
        "title",
        "authors",
        "abstract",
        "source_url",
        "arxiv_id",
        "commentary_ko",
        "commentary_en",
        "status",
    ),
    Digest: ("intro_ko", "intro_en"),
}

BASELINE_COMMENT = "State before a change (kept because no earlier version existed)"

_actor: ContextVar[str] = ContextVar("history_actor", default="")


class RestoreError(ValueError):
    """The version cannot be put back; the message says why."""


@contextmanager
def acting_as(label: str) -> Iterator[None]:
    """Name who makes the changes inside when there is no staff user (a command, a task)."""
    token = _actor.set(label)
    try:
        yield
    finally:
        _actor.reset(token)


def actor_label() -> str:
    """Who changes rows outside the admin: the label set by acting_as, else the process and OS user."""
    if label := _actor.get():
        return label
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if program in ("manage.py", "django-admin") and len(sys.argv) > 1:
        program = f"{program} {sys.argv[1]}"
    return f"{program}, OS user {os_user()}"


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return str(os.getuid())


@contextmanager
def recorded_change(*, user=None, comment: str = "", before: Iterable[models.Model] = ()) -> Iterator[None]:
    """One transaction whose changes to versioned rows are kept as one revision.

    Rows in `before` that have no version yet get one of their current state first, so the first
    recorded change of a row made before history was kept (or by the shell) loses nothing.
    transaction.set_rollback(True) inside (a dry run) stores neither.
    """
    with transaction.atomic():
        if reversion.is_active():
            # Part of a larger recorded change, which owns the revision, its author and its baseline.
            yield
            return
        keep_baseline(before)
        with reversion.create_revision(atomic=False):
            if user is not None and user.is_authenticated:
                reversion.set_user(user)
                reversion.set_comment(comment)
            else:
                reversion.set_comment(f"{comment} ({actor_label()})" if comment else actor_label())
            yield


@contextmanager
def recorded_import(*, date: datetime.date, user=None, filename: str | None = None) -> Iterator[None]:
    """recorded_change around the import of one day's text; the day's rows are its baseline."""
    entries = list(Entry.objects.filter(digest__date=date).select_related("digest"))
    digest = entries[0].digest if entries else Digest.objects.filter(date=date).first()
    before = [digest, *entries]
    comment = f"Imported digest text {os.path.basename(filename)}" if filename else "Imported digest text"
    with recorded_change(user=user, comment=comment, before=before):
        yield


def describe_change(comment: str) -> None:
    """Say what changed, in the revision being recorded (the admin's change message)."""
    if reversion.is_active():
        reversion.set_comment(comment)


def keep_baseline(objects: Iterable[models.Model]) -> None:
    """Keep, as one revision, the current state of those objects that have no version at all."""
    by_model: dict[type[models.Model], list[models.Model]] = {}
    for obj in objects:
        if obj is not None and obj.pk is not None:
            by_model.setdefault(type(obj), []).append(obj)
    if not by_model:
        return
    content_types = {model: ContentType.objects.get_for_model(model) for model in by_model}
    anywhere = models.Q(pk__in=[])
    for model, rows in by_model.items():
        anywhere |= models.Q(content_type=content_types[model], object_id__in=[str(row.pk) for row in rows])
    versioned = set(Version.objects.filter(anywhere).values_list("content_type_id", "object_id"))
    missing = [
        row
        for model, rows in by_model.items()
        for row in rows
        if (content_types[model].pk, str(row.pk)) not in versioned
    ]
    if not missing:
        return
    with reversion.create_revision(atomic=False):
        reversion.set_comment(BASELINE_COMMENT)
        for obj in missing:
            reversion.add_to_revision(obj)


def versions_of(obj: models.Model) -> models.QuerySet[Version]:
    """The row's versions, newest first, with who made them."""
    return Version.objects.get_for_object(obj).select_related("revision__user").order_by("-pk")


def version_author(version: Version) -> str:
    """The staff user, or (for a command) the label kept in the comment."""
    user = version.revision.user
    return user.get_username() if user else ""


def stored_values(version: Version) -> dict[str, object]:
    """The version's values of the restorable fields it holds (fields added since are absent)."""
    model = version._model
    try:
        stored_names = json.loads(version.serialized_data)[0]["fields"].keys()
        field_dict = version.field_dict
    except (RevertError, ValueError, LookupError, TypeError) as error:
        raise RestoreError(f"version {version.pk} cannot be read: {error}") from error
    return {name: field_dict[name] for name in RESTORED_FIELDS[model] if name in stored_names}


def stored_tags(version: Version) -> list[Tag]:
    """An entry version's tags, in order, as unsaved Tag rows holding the slug and name of that time."""
    revision_versions = version.revision.version_set.all()
    entry_tags = [
        v.field_dict
        for v in revision_versions.filter(content_type=ContentType.objects.get_for_model(EntryTag))
    ]
    tags = {
        v.object_id: Tag(pk=int(v.object_id), **{k: v.field_dict[k] for k in ("slug", "name", "description")})
        for v in revision_versions.filter(content_type=ContentType.objects.get_for_model(Tag))
    }
    mine = sorted(
        (row for row in entry_tags if str(row["entry_id"]) == version.object_id),
        key=lambda row: (row["position"], row["id"]),
    )
    found = []
    for row in mine:
        tag = tags.get(str(row["tag_id"])) or Tag.objects.filter(pk=row["tag_id"]).first()
        if tag is not None:
            found.append(tag)
    return found


def restore_version(*, obj: Entry | Digest, version: Version, user) -> Entry | Digest:
    """Put the version's text (and an entry's tags) back on its row; the restore is a new version."""
    model = type(obj)
    if version._model is not model or version.object_id != str(obj.pk):
        raise RestoreError(f"version {version.pk} is not a version of {obj}")
    values = stored_values(version)
    slugs_and_tags = stored_tags(version) if model is Entry else []
    when = timezone.localtime(version.revision.date_created).strftime("%Y-%m-%d %H:%M")
    comment = f"Restored the version of {when} (version {version.pk})"
    with recorded_change(user=user, comment=comment, before=[obj]):
        obj = model.objects.select_for_update().get(pk=obj.pk)
        digest = obj if model is Digest else obj.digest
        if digest is not None and digest.status in (Digest.Status.SENDING, Digest.Status.PAUSED):
            raise RestoreError(
                f"digest {digest.date.isoformat()} is being sent ({digest.status}); wait until sending"
                " finishes, then restore"
            )
        if model is Entry:
            _check_arxiv_id_free(obj, values.get("arxiv_id", obj.arxiv_id))
        old_title, old_arxiv_id = getattr(obj, "title", ""), getattr(obj, "arxiv_id", "")
        for name, value in values.items():
            setattr(obj, name, value)
        # Only the restored fields: a full save would write back the status, schedule and
        # send times read above, undoing a transition made meanwhile by someone who may.
        obj.save(update_fields=[*values, "updated_at"])
        if model is Entry:
            # A link readers were sent (old slug or arXiv id) keeps working after the restore.
            permalinks.keep_old_keys(entry=obj, old_title=old_title, old_arxiv_id=old_arxiv_id)
            for tag in slugs_and_tags:
                # A tag deleted since comes back with the name it had; an existing one is left as it is.
                Tag.objects.get_or_create(
                    slug=tag.slug, defaults={"name": tag.name, "description": tag.description}
                )
            obj.set_tags([tag.slug for tag in slugs_and_tags])
        reversion.add_to_revision(obj)
    return obj


def _check_arxiv_id_free(entry: Entry, arxiv_id: str) -> None:
    if not arxiv_id or arxiv_id == entry.arxiv_id:
        return
    other = Entry.objects.filter(arxiv_id=arxiv_id).exclude(pk=entry.pk).first()
    if other is not None:
        raise RestoreError(
            f"arXiv id {arxiv_id} now belongs to another entry (“{other.title}”); change that one first"
        )
