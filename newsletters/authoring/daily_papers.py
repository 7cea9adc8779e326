"""Hugging Face Daily Papers -> draft entries of a day's digest.

hf.py reads the day from the Hub; this module says which of those papers the site already has
(in this digest, or featured on an earlier day: same arXiv id, with or without a version
suffix, or the same title) and adds the rest as draft entries, in upvote order, after the
digest's existing entries. Adding is all or nothing and never changes an existing entry, so
running it again for the same day adds only what is new. It must not fetch anything itself:
callers fetch first, outside the transaction.
"""

import datetime
import re
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from newsletters.authoring.hf import HfPaper
from newsletters.authoring.importing import DigestLockedError
from newsletters.authoring.textformat import normalise_title
from newsletters.models import Digest, Entry

_VERSION = re.compile(r"v[0-9]+$")


class DailyPapersConflict(Exception):
    """Another editor added one of the papers at the same moment; nothing was stored."""


@dataclass(frozen=True)
class PaperStatus:
    """One paper of the day and the entry the site already has for it, if any."""

    paper: HfPaper
    existing: Entry | None = None

    @property
    def addable(self) -> bool:
        return self.existing is None

    def reason(self, digest: Digest | None) -> str:
        """Why the paper is not added: "already in this digest", "featured on 2025-07-01", ..."""
        entry = self.existing
        if entry is None:
            return ""
        if entry.digest_id is None:
            return "already an entry (not in a digest)"
        if digest is not None and entry.digest_id == digest.pk:
            return "already in this digest"
        if digest is not None and entry.digest.date > digest.date:
            return f"already in the digest of {entry.digest.date.isoformat()}"
        return f"featured on {entry.digest.date.isoformat()}"

    @property
    def is_repeat(self) -> bool:
        """Featured in another digest (the "seen before" warning), not just already added here."""
        return self.existing is not None and self.existing.digest_id is not None


@dataclass
class AddResult:
    digest: Digest | None
    digest_created: bool = False
    added: list[tuple[HfPaper, Entry]] = field(default_factory=list)
    skipped: list[tuple[HfPaper, str]] = field(default_factory=list)

    def summary(self, day: datetime.date) -> str:
        where = f"digest {day.isoformat()}" + (" (created)" if self.digest_created else "")
        if self.digest is None:
            where = f"{day.isoformat()} (no digest created)"
        return f"{where}: {len(self.added)} added, {len(self.skipped)} skipped"


def bare_arxiv_id(arxiv_id: str) -> str:
    """The id without its version suffix: 2506.01939v2 -> 2506.01939."""
    return _VERSION.sub("", arxiv_id.strip())


def paper_statuses(*, papers: list[HfPaper], digest: Digest | None) -> list[PaperStatus]:
    """Each paper with the entry already holding it: this digest first, then the newest other one."""
    if not papers:
        return []
    by_id: dict[str, list[Entry]] = {}
    id_match = reduce(
        or_, (Q(arxiv_id=p.arxiv_id) | Q(arxiv_id__startswith=f"{p.arxiv_id}v") for p in papers)
    )
    for entry in Entry.objects.filter(id_match).select_related("digest"):
        by_id.setdefault(bare_arxiv_id(entry.arxiv_id), []).append(entry)

    by_title: dict[str, list[Entry]] = {}
    keys = {normalise_title(p.title) for p in papers}
    words = {max(key.split(), key=len) for key in keys if key}
    if words:
        title_match = reduce(or_, (Q(title__icontains=word) for word in words))
        for entry in Entry.objects.filter(title_match).select_related("digest"):
            key = normalise_title(entry.title)
            if key in keys:
                by_title.setdefault(key, []).append(entry)

    statuses = []
    for paper in papers:
        candidates = by_id.get(paper.arxiv_id, []) + by_title.get(normalise_title(paper.title), [])
        statuses.append(PaperStatus(paper=paper, existing=_most_relevant(candidates, digest)))
    return statuses


def _most_relevant(entries: list[Entry], digest: Digest | None) -> Entry | None:
    """This digest's entry, else the newest digest's, else one in no digest."""
    if not entries:
        return None
    if digest is not None:
        for entry in entries:
            if entry.digest_id == digest.pk:
                return entry
    in_digests = [entry for entry in entries if entry.digest_id is not None]
    if in_digests:
        return max(in_digests, key=lambda entry: entry.digest.date)
    return entries[0]


def add_daily_papers(
    *, day: datetime.date, papers: list[HfPaper], only: set[str] | None = None, user=None
) -> AddResult:
    """Add the papers (or only those with these arXiv ids) the site doesn't have as draft entries of the day.

    Creates the day's digest when a paper is to be added and there is none. Raises DigestLockedError
    for a digest that is sending or sent, DailyPapersConflict if another editor got there first.
    """
    wanted = [paper for paper in papers if only is None or paper.arxiv_id in only]
    try:
        with transaction.atomic():
            digest = Digest.objects.select_for_update().filter(date=day).first()
            if digest is not None and not digest.is_editable():
                raise DigestLockedError(
                    f"digest {day.isoformat()} is {digest.status}: readers have it,"
                    " so no papers are added to it"
                )
            result = AddResult(digest=digest)
            statuses = paper_statuses(papers=wanted, digest=digest)
            result.skipped = [(s.paper, s.reason(digest)) for s in statuses if not s.addable]
            to_add = [s.paper for s in statuses if s.addable]
            if not to_add:
                return result
            if digest is None:
                digest = Digest.objects.create(date=day)
                result.digest, result.digest_created = digest, True
            position = digest.entries.aggregate(last=Max("position"))["last"] or 0
            for paper in to_add:
                position += 1
                entry = Entry(
                    digest=digest,
                    position=position,
                    title=paper.title,
                    authors=list(paper.authors),
                    abstract=paper.abstract,
                    arxiv_id=paper.arxiv_id,
                    source_url=paper.arxiv_url,
                    source=Entry.Source.HUGGING_FACE,
                    status=Entry.Status.DRAFT,
                    commentary_ko="",
                    commentary_en="",
                    created_by=user,
                )
                entry.save()
                result.added.append((paper, entry))
    except IntegrityError as exc:
        raise DailyPapersConflict(
            "another editor added one of these papers at the same moment; nothing was added, try again"
        ) from exc
    return result
