"""Metadata for search engines and link previews: JSON-LD and absolute URLs."""

import json

from django import template
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe

from newsletters.models import Entry

register = template.Library()

# What json_script escapes too: a title holding "</script>" must not end the element.
JSON_IN_HTML_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def absolute_url(path: str) -> str:
    """The public address of a site path (SITE_URL, never the Host header)."""
    return settings.SITE_URL + path


def scholarly_article(entry: Entry) -> dict:
    """schema.org ScholarlyArticle for a paper page."""
    data = {
        "@context": "https://schema.org",
        "@type": "ScholarlyArticle",
        "headline": entry.title[:110],
        "name": entry.title,
        "author": [{"@type": "Person", "name": name} for name in entry.authors],
        "abstract": entry.abstract,
        "url": absolute_url(entry.get_absolute_url()),
        "keywords": [tag.display_name for tag in entry.ordered_tags()],
    }
    if entry.paper_url:
        data["sameAs"] = entry.paper_url
    if entry.arxiv_id:
        data["identifier"] = {"@type": "PropertyValue", "propertyID": "arXiv", "value": entry.arxiv_id}
    if entry.digest_id:
        data["datePublished"] = entry.digest.date.isoformat()
        data["isPartOf"] = {
            "@type": "PublicationIssue",
            "url": absolute_url(entry.digest.get_absolute_url()),
            "datePublished": entry.digest.date.isoformat(),
        }
    return data


@register.simple_tag
def absolute(path: str) -> str:
    """{% absolute path %}: SITE_URL + path."""
    return absolute_url(path)


@register.simple_tag
def scholarly_article_json_ld(entry: Entry) -> SafeString:
    """A <script type="application/ld+json"> safe to put in HTML (<, >, & escaped)."""
    payload = json.dumps(scholarly_article(entry), ensure_ascii=False).translate(JSON_IN_HTML_ESCAPES)
    return mark_safe(f'<script type="application/ld+json">{payload}</script>')
