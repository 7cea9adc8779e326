"""Start a day's digest from Hugging Face Daily Papers, so the editor only writes commentary.

Each paper of the day becomes a draft entry (title, authors, abstract, arXiv id and link; no
commentary, no tags), most upvoted first. Running it again adds only papers not yet there and
never changes what the editor wrote. If the Hub fails or answers with anything malformed,
nothing is stored and the exit status is non-zero.
"""

import datetime
import re

from django.core.management.base import BaseCommand, CommandError

from newsletters.authoring.daily_papers import DailyPapersConflict, add_daily_papers
from newsletters.authoring.hf import HfError, fetch_daily_papers
from newsletters.authoring.importing import DigestLockedError

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> datetime.date:
    """YYYY-MM-DD (and only that) as a date."""
    if _DAY.fullmatch(text or ""):
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            pass
    raise CommandError(f"{text!r} is not a day: give it as YYYY-MM-DD, e.g. 2025-07-10")


class Command(BaseCommand):
    help = "Add a day's Hugging Face Daily Papers as draft entries of that day's digest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("day", metavar="YYYY-MM-DD", help="the day whose papers to add")

    def handle(self, *args, day: str, **options) -> None:
        date = parse_day(day)
        try:
            papers = fetch_daily_papers(date)
            result = add_daily_papers(day=date, papers=papers)
        except (HfError, DigestLockedError, DailyPapersConflict) as exc:
            raise CommandError(str(exc)) from exc
        added = {paper.arxiv_id: entry for paper, entry in result.added}
        skipped = {paper.arxiv_id: reason for paper, reason in result.skipped}
        for paper in papers:
            line = f"{paper.arxiv_id:<12} {paper.upvotes:>4} upvotes  {paper.title}"
            if paper.arxiv_id in added:
                self.stdout.write(f"added    {line} (position {added[paper.arxiv_id].position})")
            else:
                self.stdout.write(f"skipped  {line} ({skipped[paper.arxiv_id]})")
        if not papers:
            self.stdout.write(f"Hugging Face lists no papers for {date.isoformat()}.")
        self.stdout.write(result.summary(date))
