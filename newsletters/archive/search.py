"""Finding published entries by the words in their title, authors, abstract or commentary.

On PostgreSQL this is full-text search, ranked: English stemming ("explore" finds
"exploration") OR'ed with prefix matching in the `simple` configuration, so that a Korean
word still matches when a particle is attached to it ("연구" finds "연구군요"). Other
databases (SQLite, the embedded default) get a working fallback: every word must appear,
case-insensitively, in one of the fields. Only published entries are ever searched.
"""

import json
import re

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connections
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from newsletters.models import Entry, EntryQuerySet

MAX_QUERY_LENGTH = 200
MAX_TERMS = 10


def search_terms(query: str) -> list[str]:
    """The words of a query: letters and digits only, so no syntax of any engine leaks in."""
    return re.findall(r"[^\W_]+", query[:MAX_QUERY_LENGTH])[:MAX_TERMS]


def search_entries(query: str) -> EntryQuerySet:
    """Published entries matching the query, best first (newest first on the fallback)."""
    terms = search_terms(query)
    entries = Entry.objects.published()
    if not terms:
        return entries.none()
    if connections[entries.db].vendor == "postgresql":
        return _full_text_search(entries, query[:MAX_QUERY_LENGTH], terms)
    return _substring_search(entries, terms)


def _full_text_search(entries: EntryQuerySet, query: str, terms: list[str]) -> EntryQuerySet:
    vector = (
        SearchVector("title", weight="A", config="english")
        + SearchVector("title", weight="A", config="simple")
        + SearchVector(Cast("authors", TextField()), weight="B", config="simple")
        + SearchVector("abstract", "commentary_en", weight="C", config="english")
        + SearchVector("commentary_ko", "commentary_en", weight="C", config="simple")
    )
    stemmed = SearchQuery(query, search_type="websearch", config="english")
    prefixes = SearchQuery(" & ".join(f"{term}:*" for term in terms), search_type="raw", config="simple")
    matches = stemmed | prefixes
    return (
        entries.annotate(search=vector, rank=SearchRank(vector, matches))
        .filter(search=matches)
        .order_by("-rank", "-digest__date", "position")
    )


def _substring_search(entries: EntryQuerySet, terms: list[str]) -> EntryQuerySet:
    for term in terms:
        # Authors are stored as JSON text, where non-ASCII names are \u-escaped.
        escaped = json.dumps(term)[1:-1]
        entries = entries.filter(
            Q(title__icontains=term)
            | Q(authors__icontains=term)
            | Q(authors__icontains=escaped)
            | Q(abstract__icontains=term)
            | Q(commentary_ko__icontains=term)
            | Q(commentary_en__icontains=term)
        )
    return entries.order_by("-digest__date", "position")
