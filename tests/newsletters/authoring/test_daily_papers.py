"""import_hf_daily and add_daily_papers: a day of Hugging Face papers becomes draft entries, once."""

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command

from newsletters.authoring.daily_papers import add_daily_papers, paper_statuses
from newsletters.authoring.hf import parse_daily_papers
from newsletters.authoring.importing import DigestLockedError, export_digest_text
from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry
from tests.newsletters.hf_fake import SIX_PAPERS, hf_item, serve_fake_hf

pytestmark = pytest.mark.django_db
DAY = datetime.date(2025, 7, 10)


@pytest.fixture
def hf_server(settings):
    with serve_fake_hf(settings) as fake:
        yield fake


def run(day: str = "2025-07-10") -> str:
    out = io.StringIO()
    call_command("import_hf_daily", day, stdout=out)
    return out.getvalue()


def test_it_creates_the_digest_with_one_draft_entry_per_paper_in_upvote_order(hf_server):
    hf_server.answer(SIX_PAPERS)

    output = run()

    digest = Digest.objects.get(date=DAY)
    assert digest.status == Digest.Status.DRAFT
    entries = list(digest.ordered_entries())
    assert [(e.position, e.arxiv_id) for e in entries] == [
        (1, "2507.06448"),
        (2, "2507.06203"),
        (3, "2507.06229"),
        (4, "2507.07095"),
        (5, "2507.07105"),
        (6, "2507.05963"),
    ]
    first = entries[0]
    assert first.title == "Perception-Aware Policy Optimization for Multimodal Reasoning"
    assert first.authors == ["Ada Lovelace", "Alan Turing"]
    assert first.abstract == "We study things. On two lines."
    assert first.source_url == "https://arxiv.org/abs/2507.06448"
    assert first.source == Entry.Source.HUGGING_FACE
    assert first.hf_paper_url == "https://huggingface.co/papers/2507.06448"
    assert (first.status, first.commentary_ko, first.commentary_en) == (Entry.Status.DRAFT, "", "")
    assert list(first.tags.all()) == []
    lines = output.splitlines()
    assert lines[0].startswith("added    2507.06448    120 upvotes  Perception-Aware Policy Optimization")
    assert lines[-1] == "digest 2025-07-10 (created): 6 added, 0 skipped"
    assert len(lines) == 7


def test_running_again_adds_only_new_papers_and_keeps_the_editors_work(hf_server):
    hf_server.answer(SIX_PAPERS[:3])
    run()
    entry = Entry.objects.get(arxiv_id="2507.06203")
    entry.title = "A Survey on Latent Reasoning (edited)"
    entry.commentary_en = "My words."
    entry.status = Entry.Status.READY
    entry.position = 9
    entry.save()
    entry.set_tags(["reasoning"])
    hf_server.answer(SIX_PAPERS)

    output = run()

    assert Entry.objects.count() == 6
    entry.refresh_from_db()
    assert (entry.title, entry.commentary_en, entry.status, entry.position) == (
        "A Survey on Latent Reasoning (edited)",
        "My words.",
        Entry.Status.READY,
        9,
    )
    assert [t.slug for t in entry.ordered_tags()] == ["reasoning"]
    assert (
        "skipped  2507.06203     88 upvotes  A Survey on Latent Reasoning (already in this digest)" in output
    )
    assert output.splitlines()[-1] == "digest 2025-07-10: 3 added, 3 skipped"
    new = Entry.objects.filter(position__gt=9).order_by("position")
    assert [(e.position, e.arxiv_id) for e in new] == [
        (10, "2507.06229"),
        (11, "2507.07105"),
        (12, "2507.05963"),
    ]
    assert run().splitlines()[-1] == "digest 2025-07-10: 0 added, 6 skipped"


def test_a_paper_the_editor_already_imported_by_title_is_not_added_twice(hf_server):
    digest = make_digest("2025-07-10")
    make_entry(digest=digest, position=1, title="a survey on  LATENT reasoning")
    hf_server.answer(SIX_PAPERS[:1])

    assert "(already in this digest)" in run()
    assert Entry.objects.count() == 1


def test_a_paper_featured_on_an_earlier_day_is_skipped_and_said_so(hf_server):
    make_entry(digest=make_digest("2025-07-01"), arxiv_id="2507.06203v2", title="Latent reasoning, renamed")
    hf_server.answer(SIX_PAPERS[:2])

    output = run()

    assert (
        "skipped  2507.06203     88 upvotes  A Survey on Latent Reasoning (featured on 2025-07-01)" in output
    )
    assert Entry.objects.filter(digest__date=DAY).count() == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b'{"error": "down"}'),
        (200, b"not json"),
        (200, json.dumps([*SIX_PAPERS, {"paper": {"id": "2507.09999", "title": "No summary"}}]).encode()),
    ],
    ids=["503", "malformed-json", "missing-field"],
)
def test_an_api_failure_exits_non_zero_and_creates_nothing(hf_server, status, body):
    hf_server.status, hf_server.body = status, body

    with pytest.raises(CommandError) as excinfo:
        run()

    assert "Nothing was added" in str(excinfo.value)
    assert not Digest.objects.exists() and not Entry.objects.exists()


def test_a_timeout_exits_non_zero_and_creates_nothing(hf_server):
    hf_server.answer(SIX_PAPERS)
    hf_server.delay = 5.0

    with pytest.raises(CommandError, match="no answer within 0.5 seconds"):
        run()

    assert not Digest.objects.exists()


def test_an_empty_day_creates_no_digest(hf_server):
    hf_server.answer([])

    output = run()

    assert output.splitlines() == [
        "Hugging Face lists no papers for 2025-07-10.",
        "2025-07-10 (no digest created): 0 added, 0 skipped",
    ]
    assert not Digest.objects.exists()


def test_a_paper_without_authors_is_added_without_authors(hf_server):
    hf_server.answer([hf_item("2507.06203", "A Survey on Latent Reasoning", authors=())])

    run()

    assert Entry.objects.get().authors == []


@pytest.mark.parametrize("status", [Digest.Status.SENDING, Digest.Status.SENT])
def test_a_digest_readers_have_gets_no_papers(hf_server, status):
    make_digest("2025-07-10", status=status)
    hf_server.answer(SIX_PAPERS)

    with pytest.raises(CommandError, match=f"digest 2025-07-10 is {status}: readers have it"):
        run()

    assert not Entry.objects.exists()


@pytest.mark.parametrize("day", ["2025-13-01", "2025-02-30", "20250710", "yesterday", "2025-07-10T00:00", ""])
def test_a_day_that_is_not_a_date_is_refused_before_asking(hf_server, day):
    with pytest.raises(CommandError, match="is not a day: give it as YYYY-MM-DD"):
        run(day)

    assert hf_server.queries == []


def test_hostile_text_is_stored_as_one_clean_line_and_exports(hf_server):
    item = hf_item(
        "2507.06203",
        "<script>alert(1)</script>\nInjected\x00 title\u202e",
        summary="Line one\r\n#not-a-tag-line\x07",
    )
    hf_server.answer([item])
    run()
    entry = Entry.objects.get()
    entry.commentary_ko, entry.commentary_en = "좋은 논문입니다.", "Fine."
    entry.save()
    entry.set_tags(["rl"])

    assert entry.title == "<script>alert(1)</script> Injected title"
    assert entry.abstract == "Line one #not-a-tag-line"
    text = export_digest_text(entry.digest)
    assert (
        "<script>alert(1)</script> Injected title\n(Ada Lovelace, Alan Turing)\nLine one #not-a-tag-line\n"
        in text
    )


def test_only_picks_the_chosen_papers():
    papers = parse_daily_papers(SIX_PAPERS)

    result = add_daily_papers(day=DAY, papers=papers, only={"2507.05963", "2507.06203", "9999.99999"})

    assert [e.arxiv_id for _, e in result.added] == ["2507.06203", "2507.05963"]
    assert [e.position for _, e in result.added] == [1, 2]


def test_a_locked_digest_raises_digest_locked_error():
    make_digest("2025-07-10", status=Digest.Status.SENT)

    with pytest.raises(DigestLockedError):
        add_daily_papers(day=DAY, papers=parse_daily_papers(SIX_PAPERS))


def test_statuses_flag_repeats_by_id_with_or_without_version_and_by_title():
    make_entry(digest=make_digest("2025-06-01"), arxiv_id="2507.06203", title="Other")
    make_entry(digest=make_digest("2025-06-20"), arxiv_id="2507.07095v3", title="Other 2")
    make_entry(
        digest=make_digest("2025-06-25"),
        title="Agent KB: leveraging cross-domain experience for agentic problem solving",
    )
    make_entry(title="4KAgent: Agentic Any Image to 4K Super-Resolution")  # no digest yet
    make_entry(digest=make_digest("2025-06-30"), arxiv_id="2507.064480", title="Not a version suffix")
    today = make_digest("2025-07-10")

    statuses = {
        s.paper.arxiv_id: s for s in paper_statuses(papers=parse_daily_papers(SIX_PAPERS), digest=today)
    }

    assert {k: s.reason(today) for k, s in statuses.items()} == {
        "2507.06448": "",
        "2507.06203": "featured on 2025-06-01",
        "2507.06229": "featured on 2025-06-25",
        "2507.07095": "featured on 2025-06-20",
        "2507.07105": "already an entry (not in a digest)",
        "2507.05963": "",
    }
    assert statuses["2507.06203"].is_repeat and not statuses["2507.07105"].is_repeat
