"""A digest's entries as the email shows them: EmailEntry values built from the database.

mail/rendering.py takes plain values and imports no models; this is the one place that reads a
digest's entries for the email, in a fixed number of queries, with commentary rendered once.
"""

from urllib.parse import quote_plus

from django.conf import settings
from django.db.models import Prefetch

from newsletters.mail.rendering import EmailEntry, RenderedEmail, render_digest_variant
from newsletters.models import Digest, Entry, EntryTag
from newsletters.rendering import render_markdown


def email_entry(entry: Entry, *, site_url: str) -> EmailEntry:
    """One entry as plain values; expects entry_tags__tag prefetched."""
    return EmailEntry(
        title=entry.title,
        authors=tuple(entry.authors or ()),
        abstract=entry.abstract,
        commentary_ko=entry.commentary_ko,
        commentary_en=entry.commentary_en,
        commentary_ko_html=render_markdown(entry.commentary_ko),
        commentary_en_html=render_markdown(entry.commentary_en),
        tags=tuple(tag.slug for tag in entry.ordered_tags()),
        paper_url=entry.paper_url or paper_search_url(entry.title),
        archive_url=site_url.rstrip("/") + entry.get_absolute_url(),
        pdf_url=entry.arxiv_pdf_url,
        hf_url=entry.hf_paper_url,
    )


def paper_search_url(title: str) -> str:
    """An arXiv title search, so an entry imported without a link still leads to its paper."""
    return f"https://arxiv.org/search/?searchtype=title&query={quote_plus(title)}"


def email_entries_for(digest: Digest) -> dict[int, EmailEntry]:
    """Every entry of the digest by id, in the editor's order (2 queries)."""
    tags = Prefetch("entry_tags", queryset=EntryTag.objects.select_related("tag"))
    entries = digest.ordered_entries().prefetch_related(tags)
    return {entry.pk: email_entry(entry, site_url=settings.SITE_URL) for entry in entries}


def render_variant(
    *,
    digest: Digest,
    entry_ids: list[int],
    language: str,
    include_abstracts: bool = True,
    email_entries: dict[int, EmailEntry] | None = None,
) -> RenderedEmail:
    """The email for readers of these entries, language and abstract choice (admin preview and delivery)."""
    if email_entries is None:
        email_entries = email_entries_for(digest)
    wanted = set(entry_ids)
    if unknown := wanted - email_entries.keys():
        raise KeyError(f"entries {sorted(unknown)} are not in the digest of {digest.date}")
    return render_digest_variant(
        date=digest.date,
        entries=[entry for entry_id, entry in email_entries.items() if entry_id in wanted],
        language=language,
        include_abstracts=include_abstracts,
        intro_ko=digest.intro_ko,
        intro_en=digest.intro_en,
        site_name=settings.SITE_NAME,
        site_url=settings.SITE_URL,
        web_url=settings.SITE_URL.rstrip("/") + digest.get_absolute_url(),
    )
