"""Reading a day of Hugging Face Daily Papers, so the editor starts from the community's picks.

fetch_daily_papers() asks the Hub's public API (GET <HF_DAILY_PAPERS_URL>?date=YYYY-MM-DD) for
one day and returns HfPaper values in upvote order, with titles and abstracts already made into
the single clean lines the text format needs. The answer is checked whole before anything is
returned: one malformed item refuses the day, so callers can be all or nothing. Every failure is
an HfError whose message is meant for the editor; no raw network or JSON error escapes.
This module must not touch the database (newsletters/authoring/daily_papers.py does that).
"""

import datetime
import http.client
import json
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from newsletters.authoring.arxiv import ArxivIdError, parse_arxiv_id
from newsletters.authoring.textformat import is_tag_line
from newsletters.models import ABSTRACT_MAX_CHARS, AUTHOR_MAX_CHARS, MAX_AUTHORS, TITLE_MAX_CHARS

USER_AGENT = "digest-site/0.1 (daily research digest; editor's Hugging Face Daily Papers import)"
# A real day is a few hundred kilobytes; anything far bigger is not a day of papers.
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_PAPERS = 500
_CHUNK = 64 * 1024
# Unicode categories dropped from titles, abstracts and names: controls, format characters
# (bidi overrides, zero-width), surrogates and private use. Line and paragraph separators are
# whitespace and become spaces.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co"}


class HfError(Exception):
    """Anything that stops a day of papers being read; the message is meant for the editor."""


class HfUnavailable(HfError):
    """Hugging Face could not be reached, or did not answer 200 in time."""


class HfFormatError(HfError):
    """Hugging Face answered, but not with a list of daily papers this code can trust."""


@dataclass(frozen=True)
class HfPaper:
    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    abstract: str
    upvotes: int
    num_comments: int
    published_at: str  # as the API gave it (ISO 8601), shown only

    @property
    def hf_url(self) -> str:
        return f"https://huggingface.co/papers/{self.arxiv_id}"

    @property
    def arxiv_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"


def clean_line(text: str) -> str:
    """One line of plain text: control and format characters dropped, whitespace runs made one space."""
    kept = "".join(
        char for char in text if unicodedata.category(char) not in _DROPPED_CATEGORIES or char in "\t\n\r"
    )
    return " ".join(kept.split())


def fetch_daily_papers(day: datetime.date) -> list[HfPaper]:
    """The day's papers, most upvoted first; raises HfUnavailable or HfFormatError."""
    body = _get(day)
    try:
        data = json.loads(body)
    except RecursionError as exc:
        raise _malformed("the JSON is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, integers too long to read
        raise _malformed(f"it is not JSON: {exc}") from exc
    return parse_daily_papers(data)


def parse_daily_papers(data: object) -> list[HfPaper]:
    """HfPaper values from the decoded API answer, most upvoted first; raises HfFormatError."""
    if not isinstance(data, list):
        raise _malformed(f"expected a JSON list of papers, got {_type_name(data)}")
    if len(data) > MAX_PAPERS:
        raise _malformed(f"expected at most {MAX_PAPERS} papers, got {len(data)}")
    papers: dict[str, HfPaper] = {}
    for number, item in enumerate(data, start=1):
        paper = _paper_from_item(item, number)
        # The same paper twice keeps its first (listed) appearance.
        papers.setdefault(paper.arxiv_id, paper)
    # sorted() is stable: equal upvotes keep the API's order.
    return sorted(papers.values(), key=lambda paper: -paper.upvotes)


def _paper_from_item(item: object, number: int) -> HfPaper:
    where = f"paper {number}"
    if not isinstance(item, dict):
        raise _malformed(f"{where} is {_type_name(item)}, not an object")
    paper = item.get("paper")
    if not isinstance(paper, dict):
        raise _malformed(f"{where} has no 'paper' object")
    raw_id = _required_str(paper, "id", where)
    try:
        arxiv_id = parse_arxiv_id(raw_id)
    except ArxivIdError as exc:
        raise _malformed(f"{where}: paper.id {clean_line(raw_id)[:60]!r} is not an arXiv id") from exc
    where = f"paper {number} ({arxiv_id})"
    title = clean_line(_required_str(paper, "title", where))
    if not title or is_tag_line(title):
        raise _malformed(f"{where}: paper.title is empty or is only #tags")
    if len(title) > TITLE_MAX_CHARS:
        raise _malformed(f"{where}: paper.title is longer than {TITLE_MAX_CHARS} characters")
    abstract = clean_line(_required_str(paper, "summary", where))
    if len(abstract) > ABSTRACT_MAX_CHARS:
        raise _malformed(f"{where}: paper.summary is longer than {ABSTRACT_MAX_CHARS} characters")
    return HfPaper(
        arxiv_id=arxiv_id,
        title=title,
        authors=_authors(paper, where),
        abstract=abstract,
        upvotes=_optional_int(paper, "upvotes", where),
        num_comments=_optional_int(item, "numComments", where),
        published_at=clean_line(item["publishedAt"])[:40] if isinstance(item.get("publishedAt"), str) else "",
    )


def _authors(paper: dict, where: str) -> tuple[str, ...]:
    """Author names in order; a paper the Hub lists without authors has none (not an error)."""
    authors = paper.get("authors")
    if authors is None:
        return ()
    if not isinstance(authors, list):
        raise _malformed(f"{where}: paper.authors is {_type_name(authors)}, not a list")
    if len(authors) > MAX_AUTHORS:
        raise _malformed(f"{where}: more than {MAX_AUTHORS} authors")
    names = []
    for author in authors:
        if not isinstance(author, dict) or not isinstance(author.get("name"), str):
            raise _malformed(f"{where}: an author without a 'name' string")
        # ", " separates authors in the text format, so a comma inside one name becomes a space.
        name = clean_line(author["name"].replace(",", " "))
        if len(name) > AUTHOR_MAX_CHARS:
            raise _malformed(f"{where}: an author name is longer than {AUTHOR_MAX_CHARS} characters")
        if name:
            names.append(name)
    return tuple(names)


def _required_str(mapping: dict, key: str, where: str) -> str:
    value = mapping.get(key)
    if value is None:
        raise _malformed(f"{where}: paper.{key} is missing")
    if not isinstance(value, str):
        raise _malformed(f"{where}: paper.{key} is {_type_name(value)}, not a string")
    return value


def _optional_int(mapping: dict, key: str, where: str) -> int:
    value = mapping.get(key, 0)
    if value is None:
        return 0
    # bool is an int in Python, but true upvotes are not a count.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**9:
        raise _malformed(f"{where}: {key} is not a count")
    return value


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _get(day: datetime.date) -> bytes:
    """GET the day's JSON, at most MAX_RESPONSE_BYTES, within about HF_TIMEOUT seconds in all."""
    base = settings.HF_DAILY_PAPERS_URL
    query = urllib.parse.urlencode({"date": day.isoformat()})
    url = f"{base}{'&' if '?' in base else '?'}{query}"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    timeout = settings.HF_TIMEOUT
    # The socket timeout bounds each read; the deadline bounds a server that drips bytes slowly.
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status != 200:
                raise _unavailable(f"HTTP {response.status} {response.reason}")
            chunks, size = [], 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise _malformed(f"the answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB")
                if time.monotonic() > deadline:
                    raise _unavailable(f"no complete answer within {timeout:g} seconds")
                chunks.append(chunk)
            return b"".join(chunks)
    except HfError:
        raise
    except urllib.error.HTTPError as exc:
        raise _unavailable(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _unavailable(f"no answer within {timeout:g} seconds") from exc
        raise _unavailable(str(exc.reason)) from exc
    except TimeoutError as exc:
        raise _unavailable(f"no answer within {timeout:g} seconds") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _unavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc


def _unavailable(detail: str) -> HfUnavailable:
    return HfUnavailable(f"Hugging Face could not be reached ({detail}). Nothing was added; try again later.")


def _malformed(detail: str) -> HfFormatError:
    return HfFormatError(
        f"Hugging Face did not answer with a list of daily papers ({detail}). Nothing was added."
    )
