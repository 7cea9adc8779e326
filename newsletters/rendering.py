"""Turning the editor's markdown into HTML that is safe to show.

render_markdown() is the one place markdown becomes HTML: every piece of commentary (admin
preview, email, archive) goes through it, and only its output is marked safe. It must not
touch the database or templates, so every part of both apps may import it. The emails
themselves are rendered in newsletters/mail/rendering.py.

Hostile input (issue 13): commentary comes from editors and imports, and one render runs
inside a page request or a send, so render_markdown() must finish any input quickly and
never raise. Hence:
- the parser is cmark-gfm (GitHub's C implementation of CommonMark, with its autolink
  extension for bare URLs), built and fuzzed for untrusted input: linear time on the known
  pathological inputs, no recursion on the input's shape, and no state kept between calls
  (each call parses into a document of its own and frees it). Python-Markdown recursed once
  per `- ` / `>` (RecursionError on 1 KB, after which its reused instance kept broken state)
  and went quadratic on runs of `[`; markdown-it-py is linear but takes ~0.5-2 s on 64 KB of
  `![` on a loaded machine, cmark-gfm ~50 ms;
- html5ever (inside nh3) is quadratic in nesting depth, so cmark's HTML is checked before
  sanitising: a fragment nesting tags deeper than MAX_DEPTH is shown as escaped plain text;
- text longer than MAX_MARKDOWN_CHARS is not parsed but shown as escaped plain paragraphs,
  so nothing is lost and nothing costs more than a linear pass;
- any exception left falls back to that same escaped plain text, logged, and never cached;
- rendered HTML is cached per process in an LRU bounded by total characters, not by count.
"""

import html
import logging
import re
import threading
from collections import OrderedDict
from urllib.parse import unquote

import nh3
from cmarkgfm.cmark import Options, markdown_to_html_with_extensions

logger = logging.getLogger(__name__)

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h3",
    "h4",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

# Longest text parsed as markdown, in characters (64 Ki: any 64 KB of UTF-8 fits). A day's
# commentary is a few KB; longer text is shown as escaped plain paragraphs instead.
MAX_MARKDOWN_CHARS = 64 * 1024
# Deepest nesting of HTML elements a render may produce (quotes in lists in quotes, emphasis
# in links...). Commentary needs under 10; deeper output is shown as escaped plain text.
MAX_DEPTH = 32
# Bound on the in-process cache of rendered HTML: characters of markdown and HTML together.
CACHE_MAX_CHARS = 8 * 1024 * 1024

# Raw HTML passes through cmark untouched (nh3 sanitises it later). Before nesting can be
# measured, every "<" must start a tag of this simple shape, as cmark's own tags all do
# (double-quoted attribute values holding no "<" or ">"); any other "<" becomes "&lt;".
_TAG = re.compile(r'<(/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:="[^"<>]*")?)*)\s*(/?)>')
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

# A link cmark made from a bare URL shows its own address: <a href="X">X</a>.
_LINK = re.compile(r'<a href="([^"<>]*)">([^<>]*)</a>')

# Korean particles often follow a URL with no space ("(https://…)로", "https://…에서") and
# the autolinker takes them into the link. A bare link therefore ends at its first unmatched
# ")" or where Hangul is glued straight onto an ASCII letter or digit; the rest goes back
# after it.
_GLUED_HANGUL = re.compile(r"(?<=[A-Za-z0-9])[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_ALLOWED_LINK = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
_UNSAFE_IN_HREF = re.compile(r"[\s\x00-\x1f\x7f]")


def _bare_link_end(url: str) -> int:
    """Where a bare URL really ends: before an unmatched ")" or Hangul glued onto it."""
    end, depth = len(url), 0
    for index, char in enumerate(url):
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                end = index
                break
            depth -= 1
    glued = _GLUED_HANGUL.search(url, 0, end)
    return glued.start() if glued else end


def _trim_bare_link(match: re.Match) -> str:
    """Give the text the autolinker swallowed after a bare URL back to the sentence.

    Also keeps the href as readable as the text ("…/wiki/강화_학습", as it was written)
    where both name the same address; cmark percent-encodes it.
    """
    href, text = html.unescape(match[1]), html.unescape(match[2])
    prefix = next((p for p in ("", "mailto:", "http://") if unquote(href) == unquote(p + text)), None)
    if prefix is None:
        return match[0]
    end = _bare_link_end(text)
    url, rest = text[:end], text[end:]
    if not prefix and url.lower().startswith(("http://", "https://")) and not _UNSAFE_IN_HREF.search(url):
        url_href = url
    else:
        url_href = prefix + url if rest else href
    return f'<a href="{html.escape(url_href)}">{html.escape(url)}</a>{html.escape(rest, quote=False)}'


def _tags_only_simple(fragment: str) -> tuple[str, int]:
    """The fragment with every "<" outside a simple tag escaped, and its nesting depth.

    Linear: each "<" is looked at once, and _TAG cannot run past the next "<" or ">". Stops
    as soon as the depth passes MAX_DEPTH (the fragment is not used then).
    """
    out, depth, deepest, position = [], 0, 0, 0
    while (start := fragment.find("<", position)) != -1:
        out.append(fragment[position:start])
        tag = _TAG.match(fragment, start)
        if tag is None:
            out.append("&lt;")
            position = start + 1
            continue
        out.append(tag[0])
        position = tag.end()
        name = tag[2].lower()
        if tag[1]:
            depth = max(depth - 1, 0)
        elif name not in _VOID and not tag[4]:
            depth += 1
            if depth > deepest and (deepest := depth) > MAX_DEPTH:
                return "", deepest
    out.append(fragment[position:])
    return "".join(out), deepest


def _keep_link(element: str, attribute: str, value: str) -> str | None:
    """Links go to the web or a mailbox: no relative or scheme-less targets ("java%09script:")."""
    if attribute == "href" and not _ALLOWED_LINK.match(value):
        return None
    return value


def _sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_keep_link,
    )


def render_plain(text: str) -> str:
    """The text as escaped paragraphs (split on blank lines): no markup, nothing lost, linear."""
    paragraphs = re.split(r"\n[ \t]*\n\s*", text.strip())
    return "\n".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs if paragraph)


def _render(text: str) -> str:
    if len(text) > MAX_MARKDOWN_CHARS:
        logger.warning("markdown of %d characters shown as plain text (over the cap)", len(text))
        return render_plain(text)
    fragment = markdown_to_html_with_extensions(
        text, options=Options.CMARK_OPT_UNSAFE, extensions=["autolink"]
    )
    fragment, depth = _tags_only_simple(fragment)
    if depth > MAX_DEPTH:
        logger.warning("markdown nesting %d deep shown as plain text (over the cap)", depth)
        return render_plain(text)
    return _sanitise(_LINK.sub(_trim_bare_link, fragment)).strip()


class _SizeBoundedCache:
    """An LRU of rendered HTML holding at most max_chars of keys and values together."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: str) -> None:
        size = len(key) + len(value)
        if size > self.max_chars // 16:  # one huge text must not flush everything else
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.chars -= len(key) + len(old)
            self._entries[key] = value
            self.chars += size
            while self.chars > self.max_chars:
                old_key, old_value = self._entries.popitem(last=False)
                self.chars -= len(old_key) + len(old_value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.chars = 0

    def __len__(self) -> int:
        return len(self._entries)


_cache = _SizeBoundedCache(CACHE_MAX_CHARS)


class RenderFailed(Exception):
    """render_markdown_strict() could not render; render_markdown() shows plain text instead."""


def render_markdown_strict(text: str) -> str:
    """Like render_markdown(), but raises RenderFailed instead of falling back to plain text.

    For callers that keep the HTML for long (the commentary cache): a fallback must not be
    stored, so that it goes away once the cause is fixed.
    """
    text = text or ""
    cached = _cache.get(text)
    if cached is not None:
        return cached
    try:
        result = _render(text)
    except Exception as error:  # any parser bug must not reach the reader
        raise RenderFailed(f"{type(error).__name__}: {error}") from error
    _cache.set(text, result)
    return result


def render_markdown(text: str) -> str:
    """Markdown with bare URLs linked, sanitised by an allowlist; safe to mark safe. Never raises."""
    try:
        return render_markdown_strict(text)
    except RenderFailed:
        logger.exception("markdown render failed; shown as plain text")
        return render_plain(text or "")
