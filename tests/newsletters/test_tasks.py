"""The Celery tasks of the send, run in-process: what they do and what they enqueue."""

import pytest

from newsletters import tasks
from newsletters.models import Delivery, Digest
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest, queue_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[list[int], float]]:
    calls: list[tuple[list[int], float]] = []
    monkeypatch.setattr(
        tasks.send_batch, "apply_async", lambda args, countdown: calls.append((args[0], countdown))
    )
    return calls


def test_send_batch_task_sends_and_reenqueues_temporary_failures_with_a_backoff(
    sink, enqueued, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("ok@example.com")
    make_reader("busy@example.com")
    sink.refuse["busy@example.com"] = "451 4.3.0 busy"
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)

    outcome = tasks.send_batch(batch)

    busy = Delivery.objects.get(subscriber__email="busy@example.com")
    assert outcome == {"sent": 1, "failed": 0, "skipped": 0, "retry": 1}
    [(ids, countdown)] = enqueued
    assert ids == [busy.pk] and 29 <= countdown <= 60


def test_start_send_task_starts_the_send_and_enqueues_batches_after_commit(
    sink, monkeypatch, django_capture_on_commit_callbacks
):
    digest, _ = make_sendable_digest()
    make_reader("ok@example.com")
    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.send_batch, "delay", lambda ids: batches.append(ids))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.start_send(digest.pk) == 1
        assert tasks.start_send(digest.pk) == 0

    assert batches == [list(Delivery.objects.values_list("pk", flat=True))]
    assert Digest.objects.get().status == Digest.Status.SENDING


def test_sweep_task_marks_a_finished_send_sent(sink, django_capture_on_commit_callbacks):
    digest, _ = make_sendable_digest()
    make_reader("robots@example.com", tags=("robotics",))
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SCHEDULED)
    with django_capture_on_commit_callbacks(execute=False):
        tasks.start_send(digest.pk)

    assert tasks.sweep_deliveries()["finished"] == 1
    assert Digest.objects.get().status == Digest.Status.SENT


def test_record_outcome_writes_what_a_batch_sent_during_an_outage_and_requeues_the_rest(
    monkeypatch, django_capture_on_commit_callbacks
):
    from newsletters.delivery import ledger

    digest, _ = make_sendable_digest()
    make_reader("sent@example.com")
    make_reader("untried@example.com")
    [batch] = queue_send(digest, django_capture_on_commit_callbacks)
    token, _ = ledger.claim(batch)
    redelivered: list[list[int]] = []
    monkeypatch.setattr(tasks.send_batch, "delay", redelivered.append)

    # What send_batch hands on when the database outlived its own retries (JSON on the broker).
    assert tasks.record_outcome(token, [[batch[0], "<sent@x>", "2025-07-10T07:00:01+09:00"]], [batch[1]]) == 1

    rows = dict(Delivery.objects.values_list("pk", "status"))
    assert rows == {batch[0]: "sent", batch[1]: "queued"} and redelivered == [[batch[1]]]
    # Handed on twice (a redelivered task): nothing changes the second time.
    tasks.record_outcome(token, [[batch[0], "<other@x>", "2025-07-10T07:00:02+09:00"]], [batch[1]])
    assert Delivery.objects.get(pk=batch[0]).message_id == "<sent@x>" and redelivered == [[batch[1]]]
