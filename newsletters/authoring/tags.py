"""Merging tags: one tag's readers and entries move to another, then it is deleted.

Deleting a tag that readers follow would silently make them all-topic readers (a reader with
no tags gets everything), so the admin refuses it and offers this instead. Readers who followed
the old tag follow the new one; entries tagged with it get the new one in its place (keeping
the editor's tag order); each changed entry gets a new version in its history, and older
versions keep the old slug (history.py stores it), so they can still be shown and restored.
Permalinks do not depend on tags. This module must not decide who may merge: the admin checks.
"""

from dataclasses import dataclass

from newsletters.authoring import history
from newsletters.models import Entry, EntryTag, Tag


@dataclass(frozen=True)
class MergeResult:
    readers_moved: int
    entries_retagged: int
    tags_deleted: int


def tags_followed_by_readers(tags) -> list[Tag]:
    """Those of these tags that at least one reader has chosen (deleting them is refused)."""
    return [tag for tag in tags if tag.subscribers.exists()]


def merge_tags(*, sources: list[Tag], into: Tag, user=None) -> MergeResult:
    """Move every reader and entry of `sources` to `into`, then delete `sources`; all or nothing."""
    sources = [tag for tag in sources if tag.pk != into.pk]
    if not sources:
        return MergeResult(0, 0, 0)
    source_ids = [tag.pk for tag in sources]
    entries = list(Entry.objects.filter(entry_tags__tag_id__in=source_ids).distinct())
    comment = "Tags {} merged into #{}".format(" ".join(f"#{tag.slug}" for tag in sources), into.slug)
    with history.recorded_change(user=user, comment=comment, before=entries):
        readers_moved = _move_readers(source_ids=source_ids, into=into)
        for entry in entries:
            _retag(entry, source_ids=source_ids, into=into)  # set_tags adds it to the revision
        deleted = Tag.objects.filter(pk__in=source_ids).delete()[1].get(Tag._meta.label, 0)
    return MergeResult(readers_moved=readers_moved, entries_retagged=len(entries), tags_deleted=deleted)


def _move_readers(*, source_ids: list[int], into: Tag) -> int:
    # Subscriber.tags is a plain many-to-many: its through table is reached from Tag, so this
    # module never imports the subscribers app (imports run down toward newsletters.models).
    through = Tag.subscribers.through
    reader_ids = set(through.objects.filter(tag_id__in=source_ids).values_list("subscriber_id", flat=True))
    through.objects.bulk_create(
        [through(subscriber_id=reader_id, tag_id=into.pk) for reader_id in reader_ids], ignore_conflicts=True
    )
    through.objects.filter(tag_id__in=source_ids).delete()
    return len(reader_ids)


def _retag(entry: Entry, *, source_ids: list[int], into: Tag) -> None:
    """The entry's tags in order, each source tag replaced by `into` (once, at its first place)."""
    slugs = []
    for entry_tag in EntryTag.objects.filter(entry=entry).select_related("tag").order_by("position", "pk"):
        slug = into.slug if entry_tag.tag_id in source_ids else entry_tag.tag.slug
        if slug not in slugs:
            slugs.append(slug)
    entry.set_tags(slugs)
