"""Scale-out: two `celery worker` nodes with their own node names, on one Redis broker and one
PostgreSQL database, share one send. No reader gets two emails, none is missed, both nodes work;
and when one node dies mid-send the other (with the sweep, as beat runs it) finishes the send.

Fixtures and data helpers come from test_delivery_workers.py: the same test database, flushed
Redis database and scripted SMTP sink.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from digest_site.celery import app as celery_app
from newsletters.delivery import planning, sending
from newsletters.models import Delivery
from subscribers.models import Subscriber
from tests.conftest import REPO_ROOT
from tests.integration.test_delivery_workers import (  # noqa: F401 (fixtures used by name)
    broker_url,
    expected_titles,
    make_day,
    make_readers,
    postgres,
    smtp,
    wait_until_sent,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NODES = ("alpha@scale-out", "beta@scale-out")
CONCURRENCY = 2


class Node:
    """One `celery worker` process group with its own node name (--hostname)."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "digest_site", "worker", "-P", "prefork"]
            + ["-c", str(CONCURRENCY), "--hostname", name, "--without-gossip", "--without-mingle"]
            + ["-l", "warning"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """kill -9 of the node and its pool processes, like a host that died."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def nodes(worker_env, tmp_path):  # noqa: F811 (the imported fixture)
    started = [Node(name, worker_env, tmp_path / f"{name.split('@')[0]}.log") for name in NODES]
    deadline = time.monotonic() + 60
    answered: set[str] = set()
    while answered != set(NODES):
        if time.monotonic() > deadline:
            logs = {node.name: (tmp_path / f"{node.name.split('@')[0]}.log").read_text() for node in started}
            raise AssertionError(f"only {answered} answered the ping: {logs}")
        for reply in celery_app.control.ping(destination=list(NODES), timeout=1.0):
            answered.update(reply)
    yield {node.name: node for node in started}
    for node in started:
        node.stop()


def batches_done(name: str) -> int:
    """send_batch tasks this node has run, from its own statistics (remote control)."""
    stats = celery_app.control.inspect(destination=[name], timeout=2.0).stats() or {}
    return stats.get(name, {}).get("total", {}).get("newsletters.tasks.send_batch", 0)


def test_two_worker_nodes_share_one_send_and_each_reader_gets_exactly_one_email(nodes, smtp):  # noqa: F811
    smtp.keep = "headers"
    digest, entries = make_day()
    readers = make_readers(3000, seed=11)

    planning.start_send(digest_id=digest.pk)
    wait_until_sent(digest, timeout=180)

    wanted = {address for address, (_, tags) in readers.items() if expected_titles(tags, entries)}
    copies = Counter(item.recipient for item in smtp.received)
    assert set(copies) == wanted
    assert set(copies.values()) == {1}
    work = {name: batches_done(name) for name in NODES}
    assert all(done > 0 for done in work.values()), work
    assert sum(work.values()) >= len(wanted) // 50  # DELIVERY_BATCH_SIZE in worker_env
    statuses = Counter(Delivery.objects.filter(digest=digest).values_list("status", flat=True))
    assert statuses == {"sent": len(wanted), "skipped": len(readers) - len(wanted)}


def test_when_one_node_dies_mid_send_the_other_finishes_it(nodes, smtp):  # noqa: F811
    smtp.keep = "headers"
    digest, _ = make_day(n_entries=2)
    readers = make_readers(4000, seed=12)
    Subscriber.tags.through.objects.all().delete()  # every reader gets the digest

    planning.start_send(digest_id=digest.pk)
    deadline = time.monotonic() + 90
    while smtp.count < 1000 and time.monotonic() < deadline:
        time.sleep(0.02)
    nodes["alpha@scale-out"].kill()
    killed_at = smtp.count
    assert killed_at < len(readers), "the send finished before the node was killed"
    wait_until_sent(digest, timeout=180)

    copies = defaultdict(list)
    for item in smtp.received:
        copies[item.recipient].append(item.message_id)
    assert set(copies) == set(readers), f"missing: {len(set(readers) - set(copies))}"
    # In flight: what the dead node's pool processes had sent but not yet recorded as sent.
    extra = sum(len(ids) - 1 for ids in copies.values())
    in_flight = CONCURRENCY * sending.RECORD_EVERY
    assert extra <= in_flight, f"{extra} extra copies after killing a node at {killed_at}"
    assert all(len(set(ids)) == 1 for ids in copies.values())  # a repeat is the same message
    assert batches_done("beta@scale-out") > 0
    assert set(Delivery.objects.filter(digest=digest).values_list("status", flat=True)) == {"sent"}
