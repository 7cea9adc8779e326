"""Turning the editor's markdown into HTML that is safe to show.

render_markdown() is the one place markdown becomes HTML: every piece of commentary (admin
preview, email, archive) goes through it, and only its output is marked safe. It must not
touch the database or templates, so every part of both apps may import it. The emails
themselves are rendered in newsletters/mail/rendering.py.
"""

import functools
import re
import threading
import xml.etree.ElementTree as ET

import markdown
import nh3

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


_local = threading.local()

# Korean particles often follow a URL with no space ("(https://…)로", "https://…에서") and
# magiclink takes them into the link. A bare link therefore ends at its first unmatched ")" or
# where Hangul is glued straight onto an ASCII letter or digit; the rest goes back after it.
_GLUED_HANGUL = re.compile(r"(?<=[A-Za-z0-9])[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


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


class _TrimBareLinks(markdown.treeprocessors.Treeprocessor):
    """Give the text magiclink swallowed after a bare URL back to the sentence."""

    def run(self, root: ET.Element) -> None:
        for link in root.iter("a"):
            text, href = link.text or "", link.get("href", "")
            if not text or not href.endswith(text):  # only bare links show their own URL
                continue
            end = _bare_link_end(text)
            if end < len(text):
                link.set("href", href[: len(href) - len(text) + end])
                link.tail = text[end:] + (link.tail or "")
                link.text = markdown.util.AtomicString(text[:end])


class _TrimBareLinksExtension(markdown.extensions.Extension):
    """Registers _TrimBareLinks after the inline patterns (20) have made the links."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_TrimBareLinks(md), "trim_bare_links", 15)


def _markdown() -> markdown.Markdown:
    # A Markdown instance keeps state while converting, so each thread gets its own.
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = markdown.Markdown(
            extensions=["sane_lists", "pymdownx.magiclink", _TrimBareLinksExtension()],
            extension_configs={"pymdownx.magiclink": {"hide_protocol": False}},
            output_format="html",
        )
    return md


@functools.lru_cache(maxsize=4096)
def render_markdown(text: str) -> str:
    """Markdown with bare URLs linked, sanitised by an allowlist; safe to mark safe."""
    md = _markdown()
    md.reset()
    html = md.convert(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
