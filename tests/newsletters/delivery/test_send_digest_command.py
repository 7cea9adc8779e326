"""send_digest (what "send now" does, from the shell) and small smoke runs of the two benchmarks."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from digest_site.celery import app as celery_app
from newsletters.models import Delivery, Digest
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest, make_staff


@pytest.fixture
def eager_celery():
    """Tasks run in-process when enqueued: a worker in this process, for a command test."""
    old = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = old


@pytest.mark.django_db(transaction=True)
def test_send_digest_wait_sends_to_every_reader_and_reports_the_outcome(sink, eager_celery):
    digest, _ = make_sendable_digest()
    make_reader("a@example.com", language="ko")
    make_reader("b@example.com", language="en")
    make_reader("c@example.com", tags=("robotics",))
    out = io.StringIO()

    make_staff("publisher", can_send=True)

    call_command("send_digest", "2025-07-10", "--user", "publisher", "--wait", "--poll", "0.05", stdout=out)

    assert "2025-07-10: sending to 2 readers" in out.getvalue()
    assert "2025-07-10: sent: 2 sent, 0 failed, 1 skipped" in out.getvalue()
    assert sorted(r.recipient for r in sink.received) == ["a@example.com", "b@example.com"]
    assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_send_digest_a_second_time_sends_nothing(sink, eager_celery):
    make_sendable_digest()
    make_reader("a@example.com")
    make_staff("publisher", can_send=True)
    call_command("send_digest", "2025-07-10", "--user", "publisher", stdout=io.StringIO())
    out = io.StringIO()

    call_command("send_digest", "2025-07-10", "--user", "publisher", stdout=out)

    assert out.getvalue().strip() == "2025-07-10: not started, the digest is sent"
    assert sink.count == 1 and Delivery.objects.count() == 1


@pytest.mark.django_db
def test_send_digest_dry_run_shows_the_audience_and_sends_nothing(sink):
    make_sendable_digest()
    make_reader("a@example.com", language="ko")
    make_reader("b@example.com", language="ko", tags=("rl",))
    make_reader("c@example.com", tags=("robotics",))
    out = io.StringIO()

    call_command("send_digest", "2025-07-10", "--dry-run", stdout=out)

    assert out.getvalue().strip() == "2025-07-10: 2 readers, 2 variants, 1 skipped"
    assert sink.count == 0 and not Delivery.objects.exists()
    assert Digest.objects.get().status == Digest.Status.DRAFT


@pytest.mark.django_db
def test_send_digest_needs_a_user_with_the_send_permission(sink):
    make_sendable_digest()
    make_reader("a@example.com")
    make_staff("editor", can_send=False)

    with pytest.raises(CommandError, match="--user must name"):
        call_command("send_digest", "2025-07-10", stdout=io.StringIO())
    with pytest.raises(CommandError, match="editor: sending needs"):
        call_command("send_digest", "2025-07-10", "--user", "editor", stdout=io.StringIO())

    assert Digest.objects.get().status == Digest.Status.DRAFT and sink.count == 0


@pytest.mark.django_db
def test_send_digest_of_an_unknown_day_is_an_error():
    with pytest.raises(CommandError, match="no digest for 2025-07-10"):
        call_command("send_digest", "2025-07-10")


@pytest.mark.django_db(transaction=True)
def test_bench_delivery_smoke_run_counts_every_reader(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    out = io.StringIO()
    try:
        call_command("bench_delivery", "--subscribers", "300", "--ceiling-messages", "100", stdout=out)
    finally:
        celery_app.conf.task_always_eager = False

    result = json.loads(out.getvalue())
    assert result["renders"] == result["variants"] > 1
    assert result["received"] + result["skipped"] == result["subscribers"] == 300
    assert result["messages_per_second"] > 0 and result["ceiling_messages_per_second"] > 0
    assert result["avg_message_bytes"] > 5000
    assert result["ceiling_messages"] == 100
    # Every process's own peak: this one (sending in-process here), the sink and the pushers.
    assert set(result["rss_mb"]) == {"bench", "sink", "ceiling"}
    assert 0 < result["rss_mb"]["sink"] < result["peak_rss_mb"] == result["rss_mb"]["bench"]


def test_bench_embedded_smoke_run_keeps_up_with_sign_ups_during_a_digest():
    """make run's processes on a throwaway SQLite and filesystem broker: all arrives, nothing waits."""
    out = io.StringIO()
    call_command(
        "bench_embedded",
        "--readers=300",
        "--rate=5",
        "--lead=3",
        "--timeout=240",
        "--drain=30",
        stdout=out,
    )

    result = json.loads(out.getvalue())
    assert result["digest_status"] == "sent"
    assert result["received"] == result["sent"] == result["readers"] - result["skipped"] > 250
    # The digest starts within 10 s of its time (beat looks every few seconds), even with
    # sign-ups arriving all along.
    assert 0 <= result["first_digest_seconds"] <= 10
    assert result["confirmations_requested"] > 0 and result["signup_errors"] == {}
    assert result["confirmations_delivered"] == result["confirmations_requested"]
    assert result["confirmations_max_backlog"] < 5 * result["signup_rate"]
    assert set(result["rss_mb"]) == {"web", "worker", "mailworker", "beat", "bench"}
