"""The daily send end to end on real parts: PostgreSQL, a Redis broker, `celery worker`
subprocesses and an SMTP server whose replies the test scripts.

The worker processes use this test's own database (DATABASE_URL names the test database) and a
Redis database that is flushed first. Recovery runs the sweep from the test, as beat would.
"""

import datetime
import email
import email.policy
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.db import connection

from digest_site.celery import app as celery_app
from digest_site.mailname import mail_domain
from newsletters.delivery import ledger, planning, sending
from newsletters.mail.messages import make_message_id
from newsletters.mail.smtpsink import ScriptedHandler, start_sink
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from tests.conftest import REPO_ROOT, missing_service
from tests.factories import make_digest, make_entry, make_tag
from tests.newsletters.delivery.helpers import make_staff

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TAGS = ["rl", "nlp", "vision", "robotics", "theory", "agents", "audio", "graphs"]
LANGUAGES = ["ko", "en", "both"]
CONCURRENCY = 2


@pytest.fixture
def broker_url():
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        missing_service("set TEST_REDIS_URL=redis://127.0.0.1:6379/15 for the delivery integration tests")
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing_service(f"Redis is not reachable at {url}: {exc}")
    client.flushdb()
    # This process enqueues too (start_send, the sweep): point its Celery app at the same broker.
    old_url = celery_app.conf.broker_url
    _use_broker(url)
    yield url
    _use_broker(old_url)
    client.flushdb()


def _use_broker(url: str) -> None:
    # Drop the cached connection and producer pools (not close them: kombu shares them
    # between pool groups), so the next publish connects to url.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        missing_service("needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/digest")


class Workers:
    """A `celery worker` subprocess (prefork) on this test's database, broker and SMTP sink."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.process = env, log, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "digest_site",
                "worker",
                "-P",
                "prefork",
                "-c",
                str(CONCURRENCY),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "warning",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """kill -9 of the worker and its pool processes at once, like a crashed host."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def smtp():
    handler = ScriptedHandler(keep="all")
    controller = start_sink(handler)
    handler.port = controller.port
    yield handler
    controller.stop()


TIMINGS = {
    "EMAIL_TIMEOUT": 5,
    "DELIVERY_LEASE_SECONDS": 30,
    "DELIVERY_BATCH_SECONDS": 10,
    "DELIVERY_HEARTBEAT_SECONDS": 2,
    "DELIVERY_BATCH_SIZE": 50,
}


@pytest.fixture
def worker_env(postgres, broker_url, smtp, tmp_path, settings):
    db = settings.DATABASES["default"]
    credentials = f"{db['USER']}:{db.get('PASSWORD') or ''}"
    # Short timings that still pass the delivery system checks (a worker refuses to start otherwise).
    for name, value in TIMINGS.items():
        setattr(settings, name, value)
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_USE_TLS": "False",
        "EMAIL_USE_SSL": "False",
        "SITE_URL": settings.SITE_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "True",
        **{name: str(value) for name, value in TIMINGS.items()},
        "DELIVERY_RETRY_BASE_SECONDS": "0.5",
        "DELIVERY_RETRY_MAX_SECONDS": "2",
        "DELIVERY_MAX_ATTEMPTS": "5",
        "DELIVERY_RATE_LIMIT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def workers(worker_env, tmp_path):
    running = Workers(worker_env, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


def make_day(n_entries: int = 6) -> tuple[Digest, list[tuple[str, set[str], str, str]]]:
    """A digest whose entries carry random tags; (title, tags, ko marker, en marker) per entry."""
    rng = random.Random(7)
    digest = make_digest("2025-07-10")
    entries = []
    for i in range(n_entries):
        tags = set(rng.sample(TAGS, rng.randint(1, 2)))
        title = f"Paper {i} about {' and '.join(sorted(tags))}"
        ko, en = f"한국어 해설 {i}번", f"English commentary number {i}"
        make_entry(
            tags=tuple(sorted(tags)),
            digest=digest,
            position=i,
            title=title,
            commentary_ko=ko,
            commentary_en=en,
        )
        entries.append((title, tags, ko, en))
    return digest, entries


def make_readers(n: int, *, seed: int = 1) -> dict[str, tuple[str, set[str]]]:
    """n active readers with random languages and 0-3 random tags: address -> (language, tags)."""
    rng = random.Random(seed)
    tags = {slug: make_tag(slug) for slug in TAGS}
    chosen = {
        f"reader{i}@example.com": (rng.choice(LANGUAGES), set(rng.sample(TAGS, rng.randint(0, 3))))
        for i in range(n)
    }
    readers = Subscriber.objects.bulk_create(
        [
            Subscriber(email=address, language=language, state=Subscriber.Status.ACTIVE)
            for address, (language, _) in chosen.items()
        ],
        batch_size=1000,
    )
    through = Subscriber.tags.through
    through.objects.bulk_create(
        [
            through(subscriber_id=reader.pk, tag_id=tags[slug].pk)
            for reader in readers
            for slug in chosen[reader.email][1]
        ],
        batch_size=2000,
    )
    return chosen


def expected_titles(reader_tags: set[str], entries) -> list[str]:
    return [title for title, tags, _, _ in entries if not reader_tags or tags & reader_tags]


def wait_until_sent(digest: Digest, *, timeout: float = 120, on_tick=None) -> None:
    """Run the sweep every second (as beat would) until the digest is sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_tick:
            on_tick()
        ledger.sweep()
        digest.refresh_from_db()
        if digest.status == Digest.Status.SENT:
            return
        time.sleep(1)
    counts = Counter(Delivery.objects.filter(digest=digest).values_list("status", flat=True))
    raise AssertionError(f"digest still {digest.status} after {timeout}s: {dict(counts)}")


def test_two_thousand_readers_each_get_exactly_their_entries_in_their_language(workers, smtp):
    digest, entries = make_day()
    readers = make_readers(2000)

    planning.start_send(digest_id=digest.pk)
    wait_until_sent(digest)

    received = defaultdict(list)
    for item in smtp.received:
        received[item.recipient].append(email.message_from_bytes(item.data, policy=email.policy.default))
    skipped = {address for address, (_, tags) in readers.items() if not expected_titles(tags, entries)}
    assert set(received) == set(readers) - skipped
    assert all(len(messages) == 1 for messages in received.values())
    for address, [message] in received.items():
        language, tags = readers[address]
        text = message.get_body(preferencelist=("plain",)).get_content()
        wanted = expected_titles(tags, entries)
        for title, _, ko, en in entries:
            if title in wanted:
                assert (
                    title in text
                    and (ko in text) == (language != "en")
                    and (en in text) == (language != "ko")
                ), address
            else:
                assert title not in text, address
    assert Counter(Delivery.objects.filter(digest=digest).values_list("status", flat=True)) == {
        "sent": len(readers) - len(skipped),
        "skipped": len(skipped),
    }


def test_killing_the_worker_three_times_loses_no_reader_and_duplicates_only_in_flight_messages(workers, smtp):
    smtp.keep = "headers"
    digest, _ = make_day(n_entries=3)
    readers = make_readers(5000, seed=2)
    # Every reader gets something: tags of their own are not part of this scenario.
    Subscriber.tags.through.objects.all().delete()

    planning.start_send(digest_id=digest.pk)
    kills = []
    for threshold in (800, 2000, 3200):
        deadline = time.monotonic() + 60
        while smtp.count < threshold and time.monotonic() < deadline:
            time.sleep(0.02)
        workers.kill()
        kills.append(smtp.count)
        workers.start()
    assert kills[-1] < len(readers), f"the send finished before the last kill: {kills}"
    wait_until_sent(digest, timeout=180)

    copies = defaultdict(list)
    for item in smtp.received:
        copies[item.recipient].append(item.message_id)
    assert set(copies) == set(readers), f"missing: {len(set(readers) - set(copies))}"
    extra = sum(len(ids) - 1 for ids in copies.values())
    # In flight at a kill: per pool process, the messages the server accepted that wait to be
    # recorded in the next group write (fewer than RECORD_EVERY), plus the one on the wire.
    in_flight = len(kills) * CONCURRENCY * sending.RECORD_EVERY
    assert extra <= in_flight, f"{extra} extra copies after kills at {kills}"
    domain = mail_domain()
    ids = dict(Subscriber.objects.values_list("email", "pk"))
    for address, message_ids in copies.items():
        assert set(message_ids) == {
            make_message_id(digest_id=digest.pk, subscriber_id=ids[address], domain=domain)
        }
    assert set(Delivery.objects.filter(digest=digest).values_list("status", flat=True)) == {"sent"}


def test_temporary_refusals_are_retried_and_permanent_ones_suppress_the_address(workers, smtp):
    digest, _ = make_day(n_entries=2)
    readers = make_readers(500, seed=3)
    Subscriber.tags.through.objects.all().delete()
    refused = sorted(readers)[:10]
    smtp.refuse.update({address: "550 5.1.1 no such user" for address in refused})
    smtp.defer_percent = 20

    planning.start_send(digest_id=digest.pk)
    wait_until_sent(digest)

    assert len(smtp.deferred) > 50  # about a fifth of the readers were told 451 first
    got = Counter(item.recipient for item in smtp.received)
    assert set(got) == set(readers) - set(refused) and set(got.values()) == {1}
    rows = dict(Delivery.objects.filter(digest=digest).values_list("subscriber__email", "status"))
    assert {address for address, status in rows.items() if status == "failed"} == set(refused)
    assert set(Subscriber.objects.filter(email__in=refused).values_list("state", flat=True)) == {"bounced"}
    retried = Delivery.objects.filter(digest=digest, status="sent", attempts__gt=1).count()
    assert retried == len(smtp.deferred - set(refused))


def test_the_send_triggered_twice_at_once_sends_one_email_per_reader(workers, worker_env, smtp):
    digest, _ = make_day(n_entries=2)
    readers = make_readers(300, seed=4)
    Subscriber.tags.through.objects.all().delete()

    make_staff("publisher", can_send=True)
    command = [sys.executable, "manage.py", "send_digest", "2025-07-10", "--user", "publisher"]
    triggers = [
        subprocess.Popen(
            command, cwd=REPO_ROOT, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = sorted(p.communicate(timeout=120)[0].decode() for p in triggers)
    wait_until_sent(digest)

    # The command flips the day to sending; a worker fixes the audience (planning.plan_send).
    assert sum("2025-07-10: sending" in out for out in outputs) == 1, outputs
    assert sum("not started" in out for out in outputs) == 1, outputs
    assert Counter(Counter(item.recipient for item in smtp.received).values()) == {1: len(readers)}
    assert Delivery.objects.filter(digest=digest).count() == len(readers)
    digest.refresh_from_db()
    assert digest.sent_at is not None and digest.sent_at > digest.created_at - datetime.timedelta(seconds=1)
