"""Cancel pauses, resume continues (issue 11.5), on real parts: PostgreSQL, a Redis broker,
`celery worker` subprocesses and the aiosmtpd sink, with the editor's own delivery functions.

Cancel → resume → cancel → resume must leave every reader with exactly one message (one
Message-ID each, none missing); a worker killed -9 while paused, and again after the resume,
costs at most the messages that were on the wire. The harness (workers, broker, sink) is
test_delivery_workers.py's. The sweep runs from the test every second, as beat would.
"""

import os
import time
from collections import Counter, defaultdict

import pytest

from digest_site.mailname import mail_domain
from newsletters.delivery import ledger, schedule, sending
from newsletters.mail.messages import make_message_id
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from tests.integration.test_delivery_workers import CONCURRENCY, make_day, make_readers, wait_until_sent
from tests.newsletters.delivery.helpers import make_staff

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The issue asks for 5,000 readers: about 45 s on the 2-core CI machine, shared (the report of
# issue 11), inside the tier's budget of about two minutes per test. PAUSE_RESUME_READERS=500
# makes a quick run while changing the code.
READERS = int(os.environ.get("PAUSE_RESUME_READERS", "5000"))


def wait_for(condition, *, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def row_counts(digest: Digest) -> Counter:
    return Counter(Delivery.objects.filter(digest=digest).values_list("status", flat=True))


def wait_until_quiet(digest: Digest, smtp) -> int:
    """After a pause: wait until no row is claimed and the sink stops counting; what it received."""

    def quiet() -> bool:
        before = smtp.count
        if row_counts(digest)[ledger.Status.SENDING]:
            return False
        time.sleep(0.5)
        return smtp.count == before and not row_counts(digest)[ledger.Status.SENDING]

    wait_for(quiet, timeout=30, what="the paused send to settle")
    return smtp.count


def copies_by_reader(smtp) -> dict[str, list[str]]:
    copies = defaultdict(list)
    for item in smtp.received:
        copies[item.recipient].append(item.message_id)
    return copies


def assert_one_message_id_per_reader(digest: Digest, copies: dict[str, list[str]]) -> None:
    domain = mail_domain()
    ids = dict(Subscriber.objects.values_list("email", "pk"))
    for address, message_ids in copies.items():
        assert set(message_ids) == {
            make_message_id(digest_id=digest.pk, subscriber_id=ids[address], domain=domain)
        }, address


def test_cancel_resume_cancel_resume_sends_every_reader_exactly_one_message(workers, smtp):
    smtp.keep = "headers"
    digest, _ = make_day(n_entries=3)
    readers = make_readers(READERS, seed=5)
    Subscriber.tags.through.objects.all().delete()  # every reader gets the day
    publisher = make_staff("publisher", can_send=True)
    started = time.monotonic()

    assert schedule.send_now(digest_id=digest.pk, user=publisher)
    pauses = []
    for share in (0.25, 0.6):
        wait_for(lambda share=share: smtp.count >= READERS * share, what=f"{share:.0%} sent")
        assert schedule.cancel_send(digest_id=digest.pk, user=publisher) == Digest.Status.PAUSED
        received = wait_until_quiet(digest, smtp)
        # Paused means nothing more goes out, the sweep included (beat keeps running).
        for _ in range(3):
            ledger.sweep()
            time.sleep(0.5)
        assert smtp.count == received
        digest.refresh_from_db()
        assert digest.status == Digest.Status.PAUSED
        # The paused digest's counts are the truth: every accepted message is recorded.
        counts = row_counts(digest)
        assert counts[ledger.Status.SENT] == received
        assert counts[ledger.Status.QUEUED] == READERS - received
        assert schedule.available_actions(digest, counts) == ["resume"]
        pauses.append(received)
        assert schedule.resume_send(digest_id=digest.pk, user=publisher) == READERS - received
    wait_until_sent(digest, timeout=180)
    seconds = time.monotonic() - started

    copies = copies_by_reader(smtp)
    message_ids = {item.message_id for item in smtp.received}
    print(
        f"\npause/resume: {READERS} readers, {smtp.count} messages received, {len(message_ids)} distinct"
        f" Message-IDs, {len(copies)} readers reached, paused at {pauses}, {seconds:.1f} s"
    )
    assert pauses[0] < pauses[1] < READERS, f"the send finished before the last pause: {pauses}"
    assert set(copies) == set(readers), f"missing: {len(set(readers) - set(copies))}"
    assert smtp.count == len(message_ids) == READERS
    assert_one_message_id_per_reader(digest, copies)
    assert row_counts(digest) == {ledger.Status.SENT: READERS}


def test_a_worker_killed_while_paused_and_again_after_resume_loses_no_reader(workers, smtp):
    smtp.keep = "headers"
    n = READERS // 2
    digest, _ = make_day(n_entries=2)
    readers = make_readers(n, seed=6)
    Subscriber.tags.through.objects.all().delete()
    publisher = make_staff("publisher", can_send=True)

    schedule.send_now(digest_id=digest.pk, user=publisher)
    wait_for(lambda: smtp.count >= n * 0.3, what="30% sent")
    schedule.cancel_send(digest_id=digest.pk, user=publisher)
    # Killed at once, while its batches may still hold claimed rows and unrecorded messages.
    workers.kill()
    kills = [smtp.count]
    workers.start()
    time.sleep(1)
    ledger.sweep()
    assert smtp.count == kills[0], "a paused digest was sent after a restart"
    schedule.resume_send(digest_id=digest.pk, user=publisher)
    wait_for(lambda: smtp.count >= n * 0.7, what="70% sent")
    workers.kill()
    kills.append(smtp.count)
    workers.start()
    wait_until_sent(digest, timeout=180)

    copies = copies_by_reader(smtp)
    extra = sum(len(ids) - 1 for ids in copies.values())
    print(
        f"\nkilled while paused and after resume: {n} readers, {smtp.count} messages,"
        f" {extra} extra, kills at {kills}"
    )
    assert set(copies) == set(readers), f"missing: {len(set(readers) - set(copies))}"
    # Per kill and pool process: the accepted messages not yet written in a group, plus one on the wire.
    assert extra <= len(kills) * CONCURRENCY * sending.RECORD_EVERY, f"{extra} extra copies, kills at {kills}"
    assert_one_message_id_per_reader(digest, copies)
    assert row_counts(digest) == {ledger.Status.SENT: n}
