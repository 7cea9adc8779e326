"""Finding published entries by the words in their title, authors, abstract or commentary.

On PostgreSQL this is full-text search, ranked: English stemming ("explore" finds
"exploration") OR'ed with prefix matching in the `simple` configuration, so that a Korean
word still matches when a particle is attached to it ("연구" finds "연구군요"). It reads the
stored, GIN-indexed `search_document` column (migration 0004, kept by a trigger), so a query
never computes anything per row of the archive. Other databases (SQLite, the embedded
default) get a working fallback: every word must appear, case-insensitively, in the first
SCAN_CHARS characters of one of the fields. Only published entries are ever searched.

A query is cleaned first: control characters (NUL included) become spaces and it is cut to
MAX_QUERY_LENGTH, so no input reaches the database that it cannot take.
"""

import json
import re
import unicodedata

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connections
from django.db.models import Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Substr

from newsletters.models import Entry, EntryQuerySet

MAX_QUERY_LENGTH = 200
MAX_TERMS = 10
# As much of each field as is searched (the PostgreSQL trigger indexes as much).
SCAN_CHARS = 100_000
# Control, surrogate, format and private-use characters: none of them is part of a word.
STRIPPED_CATEGORIES = {"Cc", "Cs", "Cf", "Co"}


def clean_query(raw: str) -> str:
    """The query as searched and shown: no control characters, single spaces, at most MAX_QUERY_LENGTH."""
    text = "".join(
        " " if unicodedata.category(char) in STRIPPED_CATEGORIES else char
        for char in raw[: MAX_QUERY_LENGTH * 2]
    )
    return " ".join(text.split())[:MAX_QUERY_LENGTH].strip()


def search_terms(query: str) -> list[str]:
    """The words of a query: letters and digits only, so no syntax of any engine leaks in."""
    return re.findall(r"[^\W_]+", clean_query(query))[:MAX_TERMS]


def search_entries(query: str) -> EntryQuerySet:
    """Published entries matching the query, best first (newest first on the fallback)."""
    query = clean_query(query)
    terms = search_terms(query)
    entries = Entry.objects.published()
    if not terms:
        return entries.none()
    if connections[entries.db].vendor == "postgresql":
        return _full_text_search(entries, query, terms)
    return _substring_search(entries, terms)


def _full_text_search(entries: EntryQuerySet, query: str, terms: list[str]) -> EntryQuerySet:
    quote = connections[entries.db].ops.quote_name
    # The column is not a model field (see migration 0004), so it is named here.
    column = f"{quote(Entry._meta.db_table)}.{quote('search_document')}"
    document = RawSQL(column, [], output_field=SearchVectorField())
    stemmed = SearchQuery(query, search_type="websearch", config="english")
    prefixes = SearchQuery(" & ".join(f"{term}:*" for term in terms), search_type="raw", config="simple")
    matches = stemmed | prefixes
    return (
        # alias, not annotate: neither the document nor its rank is fetched, only used here.
        entries.alias(search=document, rank=SearchRank(document, matches))
        .filter(search=matches)
        .order_by("-rank", "-digest__date", "position")
    )


def _substring_search(entries: EntryQuerySet, terms: list[str]) -> EntryQuerySet:
    # Authors are stored as JSON text, where non-ASCII names are \u-escaped.
    entries = entries.annotate(
        _title=Substr("title", 1, SCAN_CHARS),
        _authors=Substr(Cast("authors", TextField()), 1, SCAN_CHARS),
        _abstract=Substr("abstract", 1, SCAN_CHARS),
        _commentary_ko=Substr("commentary_ko", 1, SCAN_CHARS),
        _commentary_en=Substr("commentary_en", 1, SCAN_CHARS),
    )
    for term in terms:
        escaped = json.dumps(term)[1:-1]
        entries = entries.filter(
            Q(_title__icontains=term)
            | Q(_authors__icontains=term)
            | Q(_authors__icontains=escaped)
            | Q(_abstract__icontains=term)
            | Q(_commentary_ko__icontains=term)
            | Q(_commentary_en__icontains=term)
        )
    return entries.order_by("-digest__date", "position")
