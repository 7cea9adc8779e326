"""Giving every paper its link: arXiv ids for imported entries that came without one.

An entry typed in the text format has a title but no arXiv id. find_missing_arxiv_ids() asks
the arXiv API for each such entry of a digest by its exact title and stores the id only on a
confident match (one paper, same normalised title). It runs in a Celery task after the import
has committed, never inside it. It never overwrites an id: the update is conditional on the
entry still having none (and still having the title that was searched for).
"""

import logging
import time

from django.db import IntegrityError
from django.db.models import Q

from newsletters.authoring.arxiv import search_arxiv_by_title
from newsletters.models import Entry

logger = logging.getLogger(__name__)

# arXiv asks API clients for no more than one request every three seconds.
ARXIV_PAUSE_SECONDS = 3.0


def find_missing_arxiv_ids(*, digest_id: int, pause: float = ARXIV_PAUSE_SECONDS) -> dict[int, str]:
    """Look up the digest's entries without an arXiv id by title; return {entry id: id found}.

    Raises ArxivUnavailable when arXiv cannot answer, so the task can retry later; ids found
    before that are kept.
    """
    found: dict[int, str] = {}
    entries = Entry.objects.filter(digest_id=digest_id, arxiv_id="").order_by("position", "pk")
    for number, (pk, title) in enumerate(entries.values_list("pk", "title")):
        if number:
            time.sleep(pause)
        paper = search_arxiv_by_title(title)
        if paper is None:
            logger.info("entry %s: no confident arXiv match for %r", pk, title)
            continue
        taken = Entry.objects.filter(
            Q(arxiv_id=paper.arxiv_id) | Q(arxiv_id__startswith=f"{paper.arxiv_id}v")
        )
        if taken.exclude(pk=pk).exists():
            logger.info("entry %s: arXiv %s belongs to another entry", pk, paper.arxiv_id)
            continue
        try:
            updated = Entry.objects.filter(pk=pk, arxiv_id="", title=title).update(arxiv_id=paper.arxiv_id)
        except IntegrityError:  # another entry took the id between the check and the update
            continue
        if updated:
            found[pk] = paper.arxiv_id
    return found
