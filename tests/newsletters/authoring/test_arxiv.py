"""arXiv look-up against a real HTTP server on 127.0.0.1 serving the API's Atom format."""

import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from newsletters.authoring.arxiv import (
    ArxivError,
    ArxivIdError,
    ArxivNotFound,
    ArxivPaper,
    ArxivUnavailable,
    fetch_arxiv_paper,
    parse_arxiv_id,
)
from tests.conftest import DATA_DIR
from tests.loopback import QuietHandler, http_server

FIXTURES = DATA_DIR / "arxiv"


@dataclass
class FakeArxiv:
    """What the local server answers, and what it was asked."""

    url: str = ""
    status: int = 200
    body: bytes = b""
    content_type: str = "application/atom+xml; charset=utf-8"
    delay: float = 0.0
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    def answer(self, fixture: str, status: int = 200, content_type: str | None = None) -> None:
        self.body = (FIXTURES / fixture).read_bytes()
        self.status = status
        if content_type:
            self.content_type = content_type


@pytest.fixture
def arxiv_server(settings):
    """A ThreadingHTTPServer on a free loopback port standing in for export.arxiv.org."""
    fake = FakeArxiv()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            fake.queries.append(parse_qs(urlsplit(self.path).query))
            fake.user_agents.append(self.headers.get("User-Agent", ""))
            if fake.delay:
                # Released at teardown so a sleeping handler doesn't hold the test run up.
                fake.released.wait(fake.delay)
            self.send_body(fake.status, fake.body, fake.content_type)

    with http_server(Handler) as base_url:
        fake.url = f"{base_url}/api/query"
        settings.ARXIV_API_URL = fake.url
        settings.ARXIV_TIMEOUT = 0.5
        try:
            yield fake
        finally:
            fake.released.set()


def test_it_reads_title_authors_and_abstract_from_the_atom_feed(arxiv_server):
    arxiv_server.answer("paper-2506.01939.xml")

    paper = fetch_arxiv_paper("https://arxiv.org/abs/2506.01939v1")

    assert paper == ArxivPaper(
        arxiv_id="2506.01939",
        title="First Return, Entropy-Eliciting Explore: Structured Exploration for Reasoning",
        authors=("Tianyu Zheng", "Tianshun Xing", "Yang (Katie) Zhao", "Ge Zhang"),
        abstract=(
            "Reinforcement Learning from Verifiable Rewards (RLVR) improves the reasoning abilities "
            "of Large Language Models (LLMs) but it struggles with unstable exploration. We propose "
            "FR3E (First Return, Entropy-Eliciting Explore), a structured exploration framework. "
            "Empirical results on mathematical reasoning benchmarks (AIME24) show that FR3E promotes "
            "more stable training."
        ),
        url="https://arxiv.org/abs/2506.01939",
        published=datetime(2025, 6, 2, 17, 54, 39, tzinfo=UTC),
    )
    assert "\n" not in paper.title and "\n" not in paper.abstract


def test_it_asks_the_api_for_the_bare_id_with_a_descriptive_user_agent(arxiv_server):
    arxiv_server.answer("paper-2506.01939.xml")

    fetch_arxiv_paper("arXiv:2506.01939v2")

    assert arxiv_server.queries == [{"id_list": ["2506.01939"], "max_results": ["1"]}]
    assert "digest-site" in arxiv_server.user_agents[0]
    assert "Python-urllib" not in arxiv_server.user_agents[0]


@pytest.mark.parametrize("fixture", ["empty-feed.xml", "error-entry.xml"])
def test_an_unknown_id_is_not_found(arxiv_server, fixture):
    arxiv_server.answer(fixture)

    with pytest.raises(ArxivNotFound) as excinfo:
        fetch_arxiv_paper("2506.99999")

    message = str(excinfo.value)
    assert "arXiv has no paper 2506.99999" in message
    assert "fill the fields by hand" in message


def test_the_error_entry_reason_is_passed_on_to_the_editor(arxiv_server):
    arxiv_server.answer("error-entry.xml")

    with pytest.raises(ArxivNotFound, match="incorrect id format for 2506.99999"):
        fetch_arxiv_paper("2506.99999")


def test_an_error_feed_sent_with_http_400_is_not_found(arxiv_server):
    arxiv_server.answer("error-entry.xml", status=400)

    with pytest.raises(ArxivNotFound, match="arXiv has no paper 2506.99999"):
        fetch_arxiv_paper("2506.99999")


def test_http_503_means_arxiv_is_unavailable(arxiv_server):
    arxiv_server.answer("maintenance.html", status=503, content_type="text/html")

    with pytest.raises(ArxivUnavailable) as excinfo:
        fetch_arxiv_paper("2506.01939")

    assert str(excinfo.value) == (
        "arXiv could not be reached (HTTP 503 Service Unavailable). "
        "Try again in a minute, or fill the fields by hand."
    )


@pytest.mark.parametrize(
    "body",
    [(FIXTURES / "maintenance.html").read_bytes(), b"Rate exceeded.", b"", b"<html><body>ok</body></html>"],
    ids=["html-page", "plain-text", "empty", "well-formed-but-not-atom"],
)
def test_a_response_that_is_not_an_atom_feed_means_arxiv_is_unavailable(arxiv_server, body):
    arxiv_server.body = body

    with pytest.raises(ArxivUnavailable) as excinfo:
        fetch_arxiv_paper("2506.01939")

    message = str(excinfo.value)
    assert message.startswith("arXiv could not be reached (the answer was not an Atom feed")
    assert message.endswith("Try again in a minute, or fill the fields by hand.")


def test_a_closed_port_means_arxiv_is_unavailable(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.ARXIV_API_URL = f"http://127.0.0.1:{port}/api/query"

    with pytest.raises(ArxivUnavailable) as excinfo:
        fetch_arxiv_paper("2506.01939")

    assert "Connection refused" in str(excinfo.value)
    assert "Try again in a minute, or fill the fields by hand." in str(excinfo.value)


def test_a_server_slower_than_the_timeout_means_arxiv_is_unavailable(arxiv_server):
    arxiv_server.answer("paper-2506.01939.xml")
    arxiv_server.delay = 5.0

    with pytest.raises(ArxivUnavailable) as excinfo:
        fetch_arxiv_paper("2506.01939")

    assert str(excinfo.value) == (
        "arXiv could not be reached (no answer within 0.5 seconds). "
        "Try again in a minute, or fill the fields by hand."
    )


def test_a_bad_id_is_refused_before_asking_arxiv(arxiv_server):
    with pytest.raises(ArxivIdError):
        fetch_arxiv_paper("not a paper")

    assert arxiv_server.queries == []


def test_every_look_up_error_is_an_arxiv_error():
    assert issubclass(ArxivIdError, ArxivError) and issubclass(ArxivIdError, ValueError)
    assert issubclass(ArxivNotFound, ArxivError) and issubclass(ArxivUnavailable, ArxivError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2506.01939", "2506.01939"),
        ("2506.01939v2", "2506.01939"),
        ("arXiv:2506.01939", "2506.01939"),
        ("ARXIV: 2506.01939v3", "2506.01939"),
        ("https://arxiv.org/abs/2506.01939v2", "2506.01939"),
        ("http://arxiv.org/pdf/2506.01939", "2506.01939"),
        ("https://arxiv.org/pdf/2506.01939v1.pdf", "2506.01939"),
        ("https://www.arxiv.org/abs/2506.01939?context=cs.LG", "2506.01939"),
        ("arxiv.org/html/2506.01939v1", "2506.01939"),
        ("  \t2506.01939\n", "2506.01939"),
        ("1412.6980", "1412.6980"),
        ("0704.0001v1", "0704.0001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v3", "hep-th/9901001"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("https://arxiv.org/abs/math.GT/0309136v1", "math.GT/0309136"),
        ("http://arxiv.org/pdf/cond-mat/0102536v1.pdf", "cond-mat/0102536"),
    ],
)
def test_parse_arxiv_id_accepts_ids_and_links(text, expected):
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "Enter an arXiv id"),
        ("   ", "Enter an arXiv id"),
        ("attention is all you need", "is not an arXiv id or arXiv link"),
        ("2506.019391", "is not an arXiv id or arXiv link"),
        ("2506.1939", "5 digits after the dot"),
        ("1412.06980", "4 digits after the dot"),
        ("2513.01939", "13 is not a month"),
        ("https://example.com/abs/2506.01939", "is not an arXiv id or arXiv link"),
        ("https://arxiv.org/list/cs.LG/recent", "is not an arXiv id or arXiv link"),
        ("hep-th/990100", "is not an arXiv id or arXiv link"),
        ("doi:10.48550/arXiv.2506.01939", "is not an arXiv id or arXiv link"),
    ],
)
def test_parse_arxiv_id_explains_what_it_wants(text, hint):
    with pytest.raises(ArxivIdError) as excinfo:
        parse_arxiv_id(text)

    assert hint in str(excinfo.value)
    assert "2506.01939" in str(excinfo.value)
