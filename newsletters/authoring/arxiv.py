"""Looking papers up on arXiv, so the editor types an id instead of copying fields by hand.

parse_arxiv_id() turns whatever the editor pasted (an id, "arXiv:" id, abs/pdf link) into a
bare id; fetch_arxiv_paper() asks the arXiv API for that paper and returns an ArxivPaper;
search_arxiv_by_title() finds the one paper whose title is exactly the given one, or None.
Every failure is an ArxivError whose message tells the editor what to do next: no raw
network or XML error escapes. This module must not touch the database.
"""

import http.client
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

NAMESPACES = {"atom": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom"}
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
USER_AGENT = "digest-site/0.1 (daily research digest; editor's arXiv look-up)"

# New-style ids (April 2007 on): YYMM.NNNN, five digits from January 2015 (YYMM 1501).
_NEW_ID = re.compile(r"(?P<yymm>\d{4})\.(?P<number>\d{4,5})(?:v\d+)?")
# Old-style ids: archive, optional subject class, slash, YYMMNNN (hep-th/9901001, math.GT/0309136).
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]{2}(?:-[a-z]{2})?)?)/(?P<number>\d{7})(?:v\d+)?"
)
_URL = re.compile(
    r"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<id>[^?#]+?)(?:\.pdf)?/?(?:[?#].*)?",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"arxiv:\s*", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
# Quotes and query syntax would end the ti:"..." phrase; arXiv's search ignores punctuation anyway.
_NOT_WORD = re.compile(r"[^\w]+")
TITLE_SEARCH_RESULTS = 10
_EXAMPLES = "an id like 2506.01939 or hep-th/9901001, or a link like https://arxiv.org/abs/2506.01939"


class ArxivError(Exception):
    """Anything that stops a paper being looked up; the message is meant for the editor."""


class ArxivIdError(ArxivError, ValueError):
    """The text is not an arXiv id or arXiv link."""


class ArxivUnavailable(ArxivError):
    """arXiv could not be reached or answered with something unusable."""


class ArxivNotFound(ArxivError):
    """arXiv answered, but has no paper with that id."""


@dataclass(frozen=True)
class ArxivPaper:
    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    abstract: str
    url: str
    published: datetime | None


def parse_arxiv_id(text: str) -> str:
    """Return the bare arXiv id (no version) from an id, "arXiv:" id or arxiv.org link."""
    candidate = (text or "").strip()
    if not candidate:
        raise ArxivIdError(f"Enter an arXiv id: {_EXAMPLES}.")
    url_match = _URL.fullmatch(candidate)
    if url_match:
        candidate = urllib.parse.unquote(url_match["id"])
    else:
        candidate = _PREFIX.sub("", candidate, count=1)

    new = _NEW_ID.fullmatch(candidate)
    if new:
        yymm, number = new["yymm"], new["number"]
        if not 1 <= int(yymm[2:]) <= 12:
            raise ArxivIdError(
                f"{text.strip()!r} is not an arXiv id: {yymm[2:]} is not a month. Use {_EXAMPLES}."
            )
        digits = 5 if int(yymm) >= 1501 else 4
        if len(number) != digits:
            raise ArxivIdError(
                f"{text.strip()!r} is not an arXiv id: ids from {yymm} have {digits} digits after "
                f"the dot (5 since 1501, 4 before). Use {_EXAMPLES}."
            )
        return f"{yymm}.{number}"
    old = _OLD_ID.fullmatch(candidate)
    if old:
        return f"{old['archive']}/{old['number']}"
    raise ArxivIdError(f"{text.strip()!r} is not an arXiv id or arXiv link. Use {_EXAMPLES}.")


def fetch_arxiv_paper(id_or_url: str) -> ArxivPaper:
    """Look a paper up with the arXiv API; raises ArxivIdError, ArxivNotFound or ArxivUnavailable."""
    arxiv_id = parse_arxiv_id(id_or_url)
    body = _get_feed({"id_list": arxiv_id, "max_results": 1})
    try:
        feed = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _unavailable(f"the answer was not an Atom feed: {exc}") from exc
    if feed.tag != f"{{{NAMESPACES['atom']}}}feed":
        raise _unavailable(f"the answer was not an Atom feed but <{feed.tag}>")
    return _paper_from_feed(feed, arxiv_id)


def title_key(title: str) -> str:
    """A title compared exactly but for case, Unicode compatibility forms and runs of whitespace."""
    return " ".join(unicodedata.normalize("NFKC", title or "").split()).casefold()


def search_arxiv_by_title(title: str) -> ArxivPaper | None:
    """The one paper whose title is this one (as title_key sees it), or None; raises ArxivUnavailable."""
    key = title_key(title)
    phrase = " ".join(_NOT_WORD.sub(" ", key).split())
    if not phrase:
        return None
    body = _get_feed({"search_query": f'ti:"{phrase}"', "max_results": TITLE_SEARCH_RESULTS})
    try:
        feed = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _unavailable(f"the answer was not an Atom feed: {exc}") from exc
    if feed.tag != f"{{{NAMESPACES['atom']}}}feed":
        raise _unavailable(f"the answer was not an Atom feed but <{feed.tag}>")
    found: dict[str, ArxivPaper] = {}
    for entry in feed.findall("atom:entry", NAMESPACES):
        if title_key(_text(entry, "atom:title")) != key:
            continue
        try:
            arxiv_id = parse_arxiv_id(_text(entry, "atom:id"))
        except ArxivIdError:
            continue  # an error entry, or something that is not a paper
        found[arxiv_id] = _paper_from_entry(entry, arxiv_id)
    # Two different papers with the same title: not a confident match.
    return next(iter(found.values())) if len(found) == 1 else None


def _get_feed(params: dict[str, str | int]) -> bytes:
    """GET the API's Atom feed for a query; HTTP errors with an Atom body are returned for parsing."""
    base = settings.ARXIV_API_URL
    query = urllib.parse.urlencode(params)
    url = f"{base}{'&' if '?' in base else '?'}{query}"
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, "Accept": "application/atom+xml"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ARXIV_TIMEOUT) as response:
            return response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        # The API answers a malformed id with HTTP 400 and an Atom feed holding an error entry:
        # that is "not found", not "unavailable". Anything else from a 4xx or 5xx is arXiv's problem.
        if 400 <= exc.code < 500 and exc.code != 429:
            try:
                body = exc.read(MAX_RESPONSE_BYTES)
            except (OSError, http.client.HTTPException):
                body = b""
            if b"<feed" in body:
                return body
        raise _unavailable(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _unavailable(f"no answer within {settings.ARXIV_TIMEOUT:g} seconds") from exc
        raise _unavailable(str(exc.reason)) from exc
    except TimeoutError as exc:
        raise _unavailable(f"no answer within {settings.ARXIV_TIMEOUT:g} seconds") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _unavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc


def _paper_from_feed(feed: ET.Element, arxiv_id: str) -> ArxivPaper:
    """Build the paper from the feed's first entry, or raise ArxivNotFound."""
    entry = feed.find("atom:entry", NAMESPACES)
    if entry is None:
        raise ArxivNotFound(f"arXiv has no paper {arxiv_id}. Check the id, or fill the fields by hand.")
    entry_id = _text(entry, "atom:id")
    title = _text(entry, "atom:title")
    if "/api/errors" in entry_id or title == "Error":
        reason = _text(entry, "atom:summary") or "unknown id"
        raise ArxivNotFound(
            f"arXiv has no paper {arxiv_id} ({reason}). Check the id, or fill the fields by hand."
        )
    if not title:
        # Older API versions answer a well-formed but unknown id with an empty entry.
        raise ArxivNotFound(f"arXiv has no paper {arxiv_id}. Check the id, or fill the fields by hand.")
    return _paper_from_entry(entry, arxiv_id)


def _paper_from_entry(entry: ET.Element, arxiv_id: str) -> ArxivPaper:
    authors = tuple(
        name
        for name in (_collapse(el.text) for el in entry.findall("atom:author/atom:name", NAMESPACES))
        if name
    )
    return ArxivPaper(
        arxiv_id=arxiv_id,
        title=_text(entry, "atom:title"),
        authors=authors,
        abstract=_text(entry, "atom:summary"),
        url=f"https://arxiv.org/abs/{arxiv_id}",
        published=_parse_datetime(_text(entry, "atom:published")),
    )


def _text(element: ET.Element, path: str) -> str:
    """The child's text with runs of whitespace (newlines included) collapsed to single spaces."""
    child = element.find(path, NAMESPACES)
    return _collapse(child.text if child is not None else None)


def _collapse(text: str | None) -> str:
    """Collapse whitespace runs to one space and strip the ends."""
    return _WHITESPACE.sub(" ", text or "").strip()


def _parse_datetime(text: str) -> datetime | None:
    """An aware datetime from the feed's ISO 8601 timestamp, or None if missing or malformed."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _unavailable(detail: str) -> ArxivUnavailable:
    """The editor-facing error for every way arXiv can fail to answer."""
    return ArxivUnavailable(
        f"arXiv could not be reached ({detail}). Try again in a minute, or fill the fields by hand."
    )
