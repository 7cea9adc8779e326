"""The shared rate-limit counter and the per-address email claim, within and across processes."""

import datetime
import multiprocessing

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from subscribers import ratelimit
from subscribers.models import RateLimitCounter, Subscriber
from tests.conftest import missing_service
from tests.subscribers.helpers import make_subscriber

WINDOW = datetime.timedelta(hours=1)


@pytest.mark.django_db
def test_a_key_is_admitted_up_to_the_limit_in_each_window():
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert [ratelimit.hit("form", "203.0.113.9", limit=3, window=WINDOW) for _ in range(5)] == [
            True,
            True,
            True,
            False,
            False,
        ]
        assert ratelimit.hit("form", "203.0.113.10", limit=3, window=WINDOW)
        assert ratelimit.hit("other-scope", "203.0.113.9", limit=3, window=WINDOW)
    with time_machine.travel(start + WINDOW + datetime.timedelta(seconds=1), tick=False):
        assert ratelimit.hit("form", "203.0.113.9", limit=3, window=WINDOW)


@pytest.mark.django_db
def test_client_addresses_are_not_stored():
    ratelimit.hit("form", "203.0.113.9", limit=3, window=WINDOW)
    assert "203.0.113.9" not in RateLimitCounter.objects.get().key


@pytest.mark.django_db
def test_expired_counters_can_be_purged():
    with time_machine.travel(timezone.now() - datetime.timedelta(days=2)):
        ratelimit.hit("form", "old", limit=3, window=WINDOW)
    ratelimit.hit("form", "new", limit=3, window=WINDOW)
    assert ratelimit.purge_expired(older_than=datetime.timedelta(days=1)) == 1
    assert RateLimitCounter.objects.count() == 1


def _in_child(job, queue) -> None:
    # A forked child must not share the parent's database socket.
    connections.close_all()
    try:
        queue.put(job())
    finally:
        connections.close_all()


def _hit_five_times() -> list[bool]:
    return [ratelimit.hit("form", "198.51.100.1", limit=10, window=WINDOW) for _ in range(5)]


def run_in_processes(job, count: int) -> list:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    connections.close_all()
    processes = [context.Process(target=_in_child, args=(job, queue)) for _ in range(count)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return results


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        missing_service("the cross-process tests need PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_ip_limit_holds_across_processes(postgresql):
    results = run_in_processes(_hit_five_times, 8)
    assert sum(sum(batch) for batch in results) == 10


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_only_one_process_may_email_an_address_per_interval(postgresql):
    reader = make_subscriber("flood@example.com", Subscriber.Status.PENDING)

    def claim() -> bool:
        return Subscriber.objects.get(pk=reader.pk).claim_confirmation_email(
            interval=datetime.timedelta(minutes=10)
        )

    assert sorted(run_in_processes(claim, 8)) == [False] * 7 + [True]
