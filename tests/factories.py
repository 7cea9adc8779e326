"""Small helpers that make rows with sensible defaults (djangoproject style)."""

import datetime
import itertools

from newsletters.models import Digest, Entry, Tag

_counter = itertools.count(1)


def make_tag(slug: str = "", **overrides) -> Tag:
    slug = slug or f"tag-{next(_counter)}"
    tag, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": overrides.pop("name", slug), **overrides})
    return tag


def make_digest(date: datetime.date | str = "2025-07-10", **overrides) -> Digest:
    if isinstance(date, str):
        date = datetime.date.fromisoformat(date)
    return Digest.objects.create(date=date, **overrides)


def make_entry(*, tags: tuple[str, ...] = ("rl",), **overrides) -> Entry:
    n = next(_counter)
    fields = {
        "title": f"Paper number {n}",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "abstract": "We study things.",
        "commentary_ko": "흥미로운 연구네요.",
        "commentary_en": "An interesting study.",
    }
    fields.update(overrides)
    entry = Entry.objects.create(**fields)
    for slug in tags:
        make_tag(slug)
    entry.set_tags(list(tags))  # in this order (tags.set() would leave every position 0)
    return entry
