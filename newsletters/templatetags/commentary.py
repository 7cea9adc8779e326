"""Commentary as HTML for the public pages, rendered once and then served from the cache.

Each page asks for all of its markdown (intro and every entry's commentary) in one call,
stored under ONE cache key made from a SHA-256 of the texts themselves. Why this shape:
- content-addressed keys never go stale: an edited commentary is a different key, so there
  is nothing to invalidate when an editor fixes a typo after sending;
- one key per page costs one cache read (and on a miss one write) whatever the number of
  entries; per-text keys would cost a database query per text on the database cache
  backend, the embedded default, and page query counts must stay bounded;
- render_markdown() stays the only code that turns markdown into HTML (its own in-process
  cache, bounded in bytes, still helps a single process, but does not survive restarts or
  span workers);
- a failed render (shown as escaped plain text) is never stored: the page would keep the
  fallback for days after the cause is fixed.
"""

import hashlib
import logging
from collections.abc import Iterable

from django import template
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

from newsletters.models import Digest, Entry
from newsletters.rendering import RenderFailed, render_markdown_strict, render_plain

# Bump when render_markdown's output changes for the same input (new extension, allowlist).
# 2: cmark-gfm replaced Python-Markdown (issue 13).
CACHE_VERSION = 2
CACHE_TIMEOUT = 60 * 60 * 24 * 7

logger = logging.getLogger(__name__)
register = template.Library()


def commentary_cache_key(texts: list[str]) -> str:
    """The cache key of a list of markdown texts: a hash of the texts themselves."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    return f"commentary:{CACHE_VERSION}:{digest}"


def render_markdown_cached(texts: list[str]) -> list[SafeString]:
    """Sanitised HTML for each markdown text, from one cache entry for the whole list."""
    key = commentary_cache_key(texts)
    try:
        html = cache.get(key)
    except Exception:
        # A cache outage must not take the archive down; render and say so.
        logger.warning("commentary cache read failed", exc_info=True)
        html = None
    if html is None or len(html) != len(texts):
        html, failed = [], False
        for text in texts:
            try:
                html.append(render_markdown_strict(text) if text else "")
            except RenderFailed:
                logger.exception("commentary render failed; shown as plain text, not cached")
                html.append(render_plain(text))
                failed = True
        if not failed:
            try:
                cache.set(key, html, CACHE_TIMEOUT)
            except Exception:
                logger.warning("commentary cache write failed", exc_info=True)
    # render_markdown's output is sanitised by nh3: the one thing allowed to be marked safe.
    return [mark_safe(fragment) for fragment in html]


def attach_commentary_html(entries: Iterable[Entry], digests: Iterable[Digest] = ()) -> None:
    """Set commentary_ko_html/commentary_en_html on each entry and intro_*_html on each digest."""
    entries, digests = list(entries), list(digests)
    texts = [text for entry in entries for text in (entry.commentary_ko, entry.commentary_en)]
    texts += [text for digest in digests for text in (digest.intro_ko, digest.intro_en)]
    html = iter(render_markdown_cached(texts))
    for entry in entries:
        entry.commentary_ko_html, entry.commentary_en_html = next(html), next(html)
    for digest in digests:
        digest.intro_ko_html, digest.intro_en_html = next(html), next(html)


@register.filter
def markdown_cached(text: str) -> SafeString:
    """{{ text|markdown_cached }}: one text through the same cache, for one-off fragments."""
    return render_markdown_cached([text or ""])[0]
