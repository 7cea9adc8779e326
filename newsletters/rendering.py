"""Turning the editor's text into what readers see.

render_markdown() is the one place markdown becomes HTML: every piece of commentary (admin
preview, email, archive) goes through it, and only its output is marked safe. It must not
touch the database, so either app may import it.
"""

import functools
import threading

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


def _markdown() -> markdown.Markdown:
    # A Markdown instance keeps state while converting, so each thread gets its own.
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = markdown.Markdown(
            extensions=["sane_lists", "pymdownx.magiclink"],
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
