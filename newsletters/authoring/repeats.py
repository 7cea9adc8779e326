"""Has this paper been featured before? Earlier entries with the same title or arXiv id.

The editor sees the answer in the entry form, the digest's entry list and the import preview.
It only reads; it must not refuse or change anything (a repeat is allowed, just worth a look).
"""

import datetime

from django.db.models import Q

from newsletters.authoring.textformat import normalise_title
from newsletters.models import Entry


def find_earlier_appearances(
    *, title: str, arxiv_id: str = "", before: datetime.date | None = None, exclude_pk: int | None = None
) -> list[Entry]:
    """Entries of digests before `before` with this arXiv id or (normalised) title, newest first."""
    key = normalise_title(title or "")
    arxiv_id = (arxiv_id or "").strip()
    if not key and not arxiv_id:
        return []
    match = Q()
    if key:
        # Narrow in the database by the longest word, then compare normalised titles here.
        match |= Q(title__icontains=max(key.split(), key=len))
    if arxiv_id:
        match |= Q(arxiv_id=arxiv_id)
    earlier = Entry.objects.filter(match, digest__isnull=False).select_related("digest")
    if exclude_pk:
        earlier = earlier.exclude(pk=exclude_pk)
    if before:
        earlier = earlier.filter(digest__date__lt=before)
    return [
        other
        for other in earlier.order_by("-digest__date", "position")
        if (arxiv_id and other.arxiv_id == arxiv_id) or (key and normalise_title(other.title) == key)
    ]
