"""Reading Hugging Face Daily Papers from a real HTTP server on 127.0.0.1 in the API's format."""

import datetime
import json
import socket

import pytest

from newsletters.authoring.hf import (
    HfError,
    HfFormatError,
    HfPaper,
    HfUnavailable,
    clean_line,
    fetch_daily_papers,
    parse_daily_papers,
)
from tests.newsletters.hf_fake import SIX_PAPERS, hf_item, serve_fake_hf

DAY = datetime.date(2025, 7, 10)


@pytest.fixture
def hf_server(settings):
    with serve_fake_hf(settings) as fake:
        yield fake


def test_it_reads_the_days_papers_most_upvoted_first(hf_server):
    hf_server.answer(SIX_PAPERS)

    papers = fetch_daily_papers(DAY)

    assert hf_server.queries == [{"date": ["2025-07-10"]}]
    assert [(p.arxiv_id, p.upvotes) for p in papers] == [
        ("2507.06448", 120),
        ("2507.06203", 88),
        ("2507.06229", 67),
        ("2507.07095", 41),  # ties keep the API's order
        ("2507.07105", 41),
        ("2507.05963", 12),
    ]
    assert papers[1] == HfPaper(
        arxiv_id="2507.06203",
        title="A Survey on Latent Reasoning",
        authors=("Ada Lovelace", "Alan Turing"),
        abstract="We study things. On two lines.",
        upvotes=88,
        num_comments=5,
        published_at="2025-07-10T01:23:45.678Z",
    )
    assert papers[1].hf_url == "https://huggingface.co/papers/2507.06203"


def test_an_empty_day_is_an_empty_list(hf_server):
    hf_server.answer([])

    assert fetch_daily_papers(DAY) == []


def test_a_paper_without_authors_has_none(hf_server):
    item = hf_item("2507.06203", "A Survey on Latent Reasoning", authors=())
    no_key = hf_item("2507.07095", "Vision-Language-Vision Auto-Encoder")
    del no_key["paper"]["authors"]
    hf_server.answer([item, no_key])

    assert [p.authors for p in fetch_daily_papers(DAY)] == [(), ()]


def test_http_503_means_unavailable(hf_server):
    hf_server.answer({"error": "Service Unavailable"}, status=503)

    with pytest.raises(HfUnavailable) as excinfo:
        fetch_daily_papers(DAY)

    assert str(excinfo.value) == (
        "Hugging Face could not be reached (HTTP 503 Service Unavailable)."
        " Nothing was added; try again later."
    )


def test_a_200_other_than_200_is_not_taken(hf_server):
    hf_server.status = 203

    with pytest.raises(HfUnavailable, match="HTTP 203"):
        fetch_daily_papers(DAY)


def test_a_slow_server_means_unavailable(hf_server):
    hf_server.answer(SIX_PAPERS)
    hf_server.delay = 5.0

    with pytest.raises(HfUnavailable, match=r"no answer within 0.5 seconds"):
        fetch_daily_papers(DAY)


def test_a_closed_port_means_unavailable(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.HF_DAILY_PAPERS_URL = f"http://127.0.0.1:{port}/api/daily_papers"

    with pytest.raises(HfUnavailable, match="Connection refused"):
        fetch_daily_papers(DAY)


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (b"<html>Bad gateway</html>", "it is not JSON"),
        (b"", "it is not JSON"),
        (b'[{"paper": {"id": "2507.06203", "title": "x"', "it is not JSON"),
        (b"\xff\xfe\x00garbage", "it is not JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"papers": []}', "expected a JSON list of papers, got an object"),
        (b'"[]"', "expected a JSON list of papers, got a string"),
        (b"[1]", "paper 1 is a number, not an object"),
        (b"[{}]", "paper 1 has no 'paper' object"),
        (b'[{"paper": []}]', "paper 1 has no 'paper' object"),
        (b"[" + b"9" * 5000 + b"]", "it is not JSON"),
    ],
    ids=[
        "html",
        "empty",
        "truncated",
        "not-utf8",
        "deeply-nested",
        "object",
        "string",
        "number-item",
        "no-paper",
        "paper-is-list",
        "huge-integer",
    ],
)
def test_malformed_json_is_refused_with_a_reason(hf_server, body, hint):
    hf_server.body = body

    with pytest.raises(HfFormatError) as excinfo:
        fetch_daily_papers(DAY)

    assert hint in str(excinfo.value)
    assert str(excinfo.value).startswith("Hugging Face did not answer with a list of daily papers (")
    assert str(excinfo.value).endswith("Nothing was added.")


def test_an_answer_over_the_size_cap_is_refused(hf_server, monkeypatch):
    monkeypatch.setattr("newsletters.authoring.hf.MAX_RESPONSE_BYTES", 100_000)
    hf_server.body = json.dumps([hf_item("2507.06203", "x", summary="y" * 200_000)]).encode()

    with pytest.raises(HfFormatError, match="larger than"):
        fetch_daily_papers(DAY)


def one(**paper_fields):
    item = hf_item("2507.06203", "A Survey on Latent Reasoning")
    for key, value in paper_fields.items():
        if value is ...:
            del item["paper"][key]
        else:
            item["paper"][key] = value
    return [item]


@pytest.mark.parametrize(
    ("items", "hint"),
    [
        (one(id=...), "paper.id is missing"),
        (one(title=...), "paper.title is missing"),
        (one(summary=...), "paper.summary is missing"),
        (one(title=None), "paper.title is missing"),
        (one(title=["A", "list"]), "paper.title is a list, not a string"),
        (one(id=2507.06203), "paper.id is a number, not a string"),
        (one(id="../../admin"), "is not an arXiv id"),
        (one(id="https://evil.example/2507.06203"), "is not an arXiv id"),
        (one(id="2507.06203; DROP TABLE"), "is not an arXiv id"),
        (one(id="<script>"), "is not an arXiv id"),
        (one(title="  \u0000\u200b  "), "paper.title is empty"),
        (one(title="#rl #reasoning"), "is only #tags"),
        (one(title="x" * 501), "longer than 500"),
        (one(authors="Ada Lovelace"), "paper.authors is a string, not a list"),
        (one(authors=[{"name": 3}]), "an author without a 'name' string"),
        (one(authors=["Ada"]), "an author without a 'name' string"),
        (one(upvotes="many"), "upvotes is not a count"),
        (one(upvotes=True), "upvotes is not a count"),
        (one(upvotes=-1), "upvotes is not a count"),
        (one(upvotes=1.5), "upvotes is not a count"),
    ],
)
def test_a_malformed_item_refuses_the_whole_day(items, hint):
    good = hf_item("2507.07095", "Vision-Language-Vision Auto-Encoder")

    with pytest.raises(HfFormatError) as excinfo:
        parse_daily_papers([good, *items])

    assert hint in str(excinfo.value)
    assert "paper 2" in str(excinfo.value)


def test_titles_abstracts_and_names_become_single_clean_lines():
    item = hf_item(
        "arXiv:2507.06203v2",
        "  <b>Latent</b>\n\tReasoning\u202e \x1b[31mred\x00 \u2028& more\r\n",
        authors=("Yang (Katie)\nZhao", "Doe, Jane", "\u200b"),
        summary="First line.\n\nSecond\u0007 line.\u2029",
    )

    (paper,) = parse_daily_papers([item])

    assert paper.arxiv_id == "2507.06203"
    # HTML stays text (templates escape it); controls, bidi overrides and line breaks are gone.
    assert paper.title == "<b>Latent</b> Reasoning [31mred & more"
    assert paper.abstract == "First line. Second line."
    assert paper.authors == ("Yang (Katie) Zhao", "Doe Jane")


def test_the_same_paper_twice_is_listed_once():
    items = [hf_item("2507.06203", "Latent", 5), hf_item("2507.06203v2", "Latent again", 9)]

    assert [p.title for p in parse_daily_papers(items)] == ["Latent"]


def test_extra_and_missing_optional_fields_are_fine():
    item = hf_item("2507.06203", "Latent")
    del item["numComments"], item["publishedAt"], item["paper"]["upvotes"]
    item["paper"]["nested"] = {"deep": [[[{}]]]}

    (paper,) = parse_daily_papers([item])

    assert (paper.upvotes, paper.num_comments, paper.published_at) == (0, 0, "")


def test_too_many_papers_are_refused():
    with pytest.raises(HfFormatError, match="at most 500 papers"):
        parse_daily_papers([hf_item(f"2507.{n:05d}", f"Paper {n}") for n in range(1, 502)])


def test_clean_line_keeps_hangul_and_accents():
    assert clean_line("Tramèr와  \n 한국어") == "Tramèr와 한국어"


def test_every_failure_is_an_hf_error():
    assert issubclass(HfUnavailable, HfError) and issubclass(HfFormatError, HfError)
