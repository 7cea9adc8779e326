"""arXiv ids found by title, against a local server answering in the arXiv API's Atom format."""

import socket
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command

from newsletters import tasks
from newsletters.authoring.arxiv import ArxivUnavailable, search_arxiv_by_title, title_key
from newsletters.authoring.paper_links import find_missing_arxiv_ids
from newsletters.models import Entry
from tests.conftest import DATA_DIR
from tests.factories import make_digest, make_entry
from tests.loopback import QuietHandler, http_server

pytestmark = pytest.mark.django_db

TITLE = "First Return, Entropy-Eliciting Explore: Structured Exploration for Reasoning"


def feed(*entries: tuple[str, str]) -> bytes:
    """An arXiv search answer holding these (id, title) entries, titles wrapped like arXiv does."""
    items = "".join(
        f"""<entry><id>http://arxiv.org/abs/{arxiv_id}v2</id><published>2025-06-02T17:54:39Z</published>
        <title>{wrapped}</title><summary>An abstract.</summary>
        <author><name>Tianyu Zheng</name></author></entry>"""
        for arxiv_id, wrapped in (
            (arxiv_id, title.replace(": ", ":" + chr(10) + "  ")) for arxiv_id, title in entries
        )
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>ArXiv Query</title>{items}</feed>"
    ).encode()


@pytest.fixture
def arxiv(settings):
    """Answers every query with .body; records the search_query of each request."""
    state = {"body": feed(), "status": 200, "queries": []}

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            state["queries"].append(parse_qs(urlsplit(self.path).query))
            self.send_body(state["status"], state["body"], "application/atom+xml")

    with http_server(Handler) as base_url:
        settings.ARXIV_API_URL = f"{base_url}/api/query"
        settings.ARXIV_TIMEOUT = 0.5
        yield state


def test_an_exact_title_match_is_taken(arxiv):
    arxiv["body"] = (DATA_DIR / "arxiv" / "paper-2506.01939.xml").read_bytes()

    paper = search_arxiv_by_title(
        "first return,  entropy-eliciting explore: structured exploration for reasoning"
    )

    assert paper is not None and paper.arxiv_id == "2506.01939"
    assert arxiv["queries"] == [
        {
            "search_query": [
                'ti:"first return entropy eliciting explore structured exploration for reasoning"'
            ],
            "max_results": ["10"],
        }
    ]


def test_a_near_match_is_not_taken(arxiv):
    arxiv["body"] = feed(
        ("2506.01939", TITLE + " in LLMs"), ("2506.11111", TITLE.replace("Return", "Returns"))
    )

    assert search_arxiv_by_title(TITLE) is None


def test_the_exact_one_among_near_ones_is_taken(arxiv):
    arxiv["body"] = feed(("2506.11111", TITLE + " II"), ("2506.01939", TITLE))

    assert search_arxiv_by_title(TITLE).arxiv_id == "2506.01939"


def test_two_papers_with_the_same_title_are_not_a_confident_match(arxiv):
    arxiv["body"] = feed(("2506.01939", TITLE), ("2506.22222", TITLE))

    assert search_arxiv_by_title(TITLE) is None


def test_no_result_is_none(arxiv):
    assert search_arxiv_by_title(TITLE) is None


def test_an_error_entry_is_none(arxiv):
    arxiv["body"] = (DATA_DIR / "arxiv" / "error-entry.xml").read_bytes()

    assert search_arxiv_by_title("Error") is None


def test_quotes_and_query_syntax_stay_inside_the_phrase(arxiv):
    search_arxiv_by_title('Say "AND" OR ti:x) (All you need')

    assert arxiv["queries"][0]["search_query"] == ['ti:"say and or ti x all you need"']


def test_a_title_of_only_punctuation_asks_nothing(arxiv):
    assert search_arxiv_by_title(' " :: ') is None
    assert arxiv["queries"] == []


def test_title_key_ignores_case_spacing_and_compatibility_forms():
    assert title_key("Ｍean  Flows\nfor ONE-step") == title_key("mean flows for one-step")
    assert title_key("Mean Flows") != title_key("Mean Flow")


def test_network_down_is_unavailable(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.ARXIV_API_URL = f"http://127.0.0.1:{port}/api/query"

    with pytest.raises(ArxivUnavailable, match="Connection refused"):
        search_arxiv_by_title(TITLE)


def test_http_503_is_unavailable(arxiv):
    arxiv["status"] = 503

    with pytest.raises(ArxivUnavailable, match="HTTP 503"):
        search_arxiv_by_title(TITLE)


def test_missing_ids_are_filled_only_on_a_confident_match_and_never_overwritten(arxiv):
    digest = make_digest("2025-07-10")
    found = make_entry(digest=digest, position=1, title=TITLE)
    editors = make_entry(digest=digest, position=2, title=TITLE + " (editor's)", arxiv_id="2401.00001")
    unmatched = make_entry(digest=digest, position=3, title="Something arXiv does not have")
    arxiv["body"] = feed(("2506.01939", TITLE))

    assert find_missing_arxiv_ids(digest_id=digest.pk, pause=0) == {found.pk: "2506.01939"}

    found.refresh_from_db(), editors.refresh_from_db(), unmatched.refresh_from_db()
    assert (found.arxiv_id, editors.arxiv_id, unmatched.arxiv_id) == ("2506.01939", "2401.00001", "")
    assert len(arxiv["queries"]) == 2  # the entry with an id was not looked up
    assert found.paper_url == "https://arxiv.org/abs/2506.01939"


def test_an_id_another_entry_holds_is_not_given_twice(arxiv):
    make_entry(digest=make_digest("2025-06-01"), title="Old", arxiv_id="2506.01939v1")
    digest = make_digest("2025-07-10")
    entry = make_entry(digest=digest, title=TITLE)
    arxiv["body"] = feed(("2506.01939", TITLE))

    assert find_missing_arxiv_ids(digest_id=digest.pk, pause=0) == {}
    entry.refresh_from_db()
    assert entry.arxiv_id == ""


def test_an_id_set_by_the_editor_during_the_look_up_wins(arxiv, monkeypatch):
    digest = make_digest("2025-07-10")
    entry = make_entry(digest=digest, title=TITLE)
    arxiv["body"] = feed(("2506.01939", TITLE))
    real_search = search_arxiv_by_title

    def editor_types_an_id_meanwhile(title: str):
        Entry.objects.filter(pk=entry.pk).update(arxiv_id="2401.00001")
        return real_search(title)

    monkeypatch.setattr(
        "newsletters.authoring.paper_links.search_arxiv_by_title", editor_types_an_id_meanwhile
    )

    assert find_missing_arxiv_ids(digest_id=digest.pk, pause=0) == {}
    entry.refresh_from_db()
    assert entry.arxiv_id == "2401.00001"


def test_the_task_retries_later_when_arxiv_is_down(settings):
    digest = make_digest("2025-07-10")
    make_entry(digest=digest, title=TITLE)
    settings.ARXIV_API_URL = "http://127.0.0.1:9/api/query"

    with mock.patch.object(tasks.find_missing_arxiv_ids, "retry", side_effect=RuntimeError("retry")) as retry:
        with pytest.raises(RuntimeError, match="retry"):
            tasks.find_missing_arxiv_ids(digest.pk)

    assert isinstance(retry.call_args.kwargs["exc"], ArxivUnavailable)


def test_the_task_returns_how_many_it_found(arxiv):
    digest = make_digest("2025-07-10")
    make_entry(digest=digest, title=TITLE)
    arxiv["body"] = feed(("2506.01939", TITLE))

    assert tasks.find_missing_arxiv_ids(digest.pk) == 1


def test_importing_text_enqueues_the_look_up_after_commit(tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "day.txt"
    path.write_text(
        f"2025-07-10\n{TITLE}\n(Ada Lovelace)\nAn abstract.\n좋은 논문입니다.\nA fine paper.\n#rl\n"
    )

    with mock.patch.object(tasks.find_missing_arxiv_ids, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            call_command("import_digest", str(path), stdout=mock.Mock())
        delay.assert_not_called()  # not before the import commits
        for callback in callbacks:
            callback()

    digest_id = Entry.objects.get().digest_id
    delay.assert_called_once_with(digest_id)


def test_a_dry_run_enqueues_nothing(tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "day.txt"
    path.write_text(
        f"2025-07-10\n{TITLE}\n(Ada Lovelace)\nAn abstract.\n좋은 논문입니다.\nA fine paper.\n#rl\n"
    )

    with mock.patch.object(tasks.find_missing_arxiv_ids, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_digest", str(path), "--dry-run", stdout=mock.Mock())

    delay.assert_not_called()


def test_a_broker_failure_does_not_fail_the_import(tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "day.txt"
    path.write_text(
        f"2025-07-10\n{TITLE}\n(Ada Lovelace)\nAn abstract.\n좋은 논문입니다.\nA fine paper.\n#rl\n"
    )

    with mock.patch.object(tasks.find_missing_arxiv_ids, "delay", side_effect=ConnectionError("broker down")):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_digest", str(path), stdout=mock.Mock())

    assert Entry.objects.count() == 1


def test_the_admin_import_enqueues_the_look_up(admin_client, settings, django_capture_on_commit_callbacks):
    settings.LANGUAGE_CODE = "en"
    text = f"2025-07-10\n{TITLE}\n(Ada Lovelace)\nAn abstract.\n좋은 논문입니다.\nA fine paper.\n#rl\n"

    with mock.patch.object(tasks.find_missing_arxiv_ids, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post("/admin/newsletters/digest/import/", {"text": text})

    assert response.status_code == 302
    delay.assert_called_once_with(Entry.objects.get().digest_id)
