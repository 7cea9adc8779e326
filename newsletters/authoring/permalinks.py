"""Paper permalinks never die: /papers/<key>/ keeps answering for every key ever emailed.

Its job: remove entries (withdrawing, not deleting, what readers received), move a paper's
slug with its title while remembering the old key, and find the entry a key names. It must
not decide who may see a page or render anything: the archive views do that.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from newsletters.models import Entry, OldPermalink, slug_base


def remove_entries(*, entries: list[Entry]) -> tuple[int, int]:
    """Delete entries nobody received; withdraw the others. Returns (deleted, withdrawn)."""
    received = [entry for entry in entries if entry.digest is not None and entry.digest.was_received()]
    received_ids = {entry.pk for entry in received}
    deleted = [entry.pk for entry in entries if entry.pk not in received_ids]
    now = timezone.now()
    with transaction.atomic():
        for entry in received:
            if entry.withdrawn_at is None:
                entry.withdrawn_at = now
                entry.save(update_fields=["withdrawn_at", "updated_at"])
        if deleted:
            Entry.objects.filter(pk__in=deleted).delete()
    return len(deleted), len(received)


def keep_old_keys(*, entry: Entry, old_title: str, old_arxiv_id: str = "") -> None:
    """After an edit, let the entry's old keys redirect; a new title also gets its own slug.

    Call after saving. A slug the editor set by hand (not made from the old title) is left
    alone, and so is one whose title changed only in case or spacing.
    """
    with transaction.atomic():
        if old_arxiv_id and old_arxiv_id != entry.arxiv_id:
            remember_old_key(entry=entry, key=old_arxiv_id)
        if slug_base(old_title) == slug_base(entry.title) or not _made_from(entry.slug, old_title):
            return
        old_slug = entry.slug
        new_slug = entry.unique_slug()
        if new_slug == old_slug:
            return
        remember_old_key(entry=entry, key=old_slug)
        OldPermalink.objects.filter(entry=entry, key__in=[new_slug, entry.arxiv_id]).delete()
        entry.slug = new_slug
        entry.save(update_fields=["slug", "updated_at"])


def remember_old_key(*, entry: Entry, key: str) -> None:
    """Keep answering /papers/<key>/ for this entry (by redirect) once it has another key."""
    if key:
        OldPermalink.objects.update_or_create(key=key, defaults={"entry": entry})


def find_paper(key: str) -> tuple[Entry | None, bool]:
    """The entry a permalink key names, and whether the key is an old one (answer with a redirect)."""
    candidates = list(Entry.objects.with_listing_data().filter(Q(arxiv_id=key) | Q(slug=key))[:2])
    if candidates:
        # An arXiv id wins over a slug; both name the same page, the canonical link says which.
        return next((entry for entry in candidates if entry.arxiv_id == key), candidates[0]), False
    old = OldPermalink.objects.filter(key=key).select_related("entry__digest").first()
    return (old.entry, True) if old else (None, False)


def _made_from(slug: str, title: str) -> bool:
    """Whether the slug is one unique_slug makes from this title (base, base-2, ...)."""
    base = slug_base(title)
    head, _, tail = slug.rpartition("-")
    return slug == base or (head == base and tail.isdigit())
