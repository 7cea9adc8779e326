"""Measure the daily send through the production code path, and the SMTP ceiling beside it.

Why: the delivery design promises that rendering grows with variants, not readers, and that
the workers come close to what plain smtplib can push to the same server. This command makes
N readers over T tags in an EMPTY (throwaway) database, starts an SMTP sink in its own
process, sends a day's digest (through a real broker and `celery worker` when
CELERY_BROKER_URL is set, else in this process), then pushes the same prebuilt messages with
plain smtplib, one connection per process, and prints one JSON line.
"""

import json
import multiprocessing
import os
import random
import resource
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from digest_site.celery import app as celery_app
from newsletters import delivery
from newsletters.models import Delivery, Digest, DigestVariant, Entry, EntryTag, Tag
from subscribers.models import Subscriber


class Command(BaseCommand):
    help = "Benchmark the daily send on a throwaway database; prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--subscribers", type=int, default=1000)
        parser.add_argument("--tags", type=int, default=30)
        parser.add_argument("--entries", type=int, default=11)
        parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
        parser.add_argument("--ceiling-messages", type=int, default=5000)
        parser.add_argument("--timeout", type=float, default=3600)
        parser.add_argument("--flush", action="store_true", help="empty the (throwaway!) database first")

    def handle(self, *args, **opts) -> None:
        if opts["flush"]:
            call_command("flush", interactive=False, verbosity=0)
        if Subscriber.objects.exists() or Digest.objects.exists():
            raise CommandError(
                "bench_delivery needs an empty, throwaway database (it creates its own readers)"
            )
        digest = make_data(subscribers=opts["subscribers"], tags=opts["tags"], entries=opts["entries"])
        with tempfile.TemporaryDirectory() as tmp:
            stats = Path(tmp) / "sink.json"
            sink = subprocess.Popen(
                [sys.executable, "-m", "newsletters.smtpsink", "--port", "0", "--stats", str(stats)],
                stdout=subprocess.PIPE,
            )
            port = int(sink.stdout.readline())
            settings.EMAIL_BACKEND = delivery.SMTP_BACKEND
            settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
            settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
            settings.EMAIL_HOST_USER = ""
            worker = start_worker(port, opts["concurrency"]) if os.environ.get("CELERY_BROKER_URL") else None
            eager = celery_app.conf.task_always_eager
            celery_app.conf.task_always_eager = worker is None
            try:
                renders_before = delivery.render_count
                started = time.perf_counter()
                delivery.start_send(digest_id=digest.pk)
                wait_until_sent(digest, timeout=opts["timeout"])
                seconds = time.perf_counter() - started
                renders = delivery.render_count - renders_before
                messages = sample_messages(digest, opts["ceiling_messages"])
                ceiling = push_ceiling(messages, port=port, processes=opts["concurrency"])
            finally:
                celery_app.conf.task_always_eager = eager
                if worker:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(30)
                sink.send_signal(signal.SIGTERM)
                sink.wait(30)
            received = read_received(stats, at_least=0) - len(messages)
        counts = delivery.delivery_progress(digest)["counts"]
        result = {
            "subscribers": opts["subscribers"],
            "tags": opts["tags"],
            "entries": opts["entries"],
            "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            "broker": "celery worker" if worker else "in-process",
            "concurrency": opts["concurrency"] if worker else 1,
            "skipped": counts.get(Delivery.Status.SKIPPED, 0),
            "sent": counts.get(Delivery.Status.SENT, 0),
            "failed": counts.get(Delivery.Status.FAILED, 0),
            "variants": DigestVariant.objects.filter(digest=digest).count(),
            "renders": renders,
            "received": received,
            "seconds": round(seconds, 2),
            "messages_per_second": round(received / seconds, 1) if seconds else 0,
            "ceiling_messages_per_second": round(ceiling, 1),
            "peak_rss_mb": peak_rss_mb(),
            "avg_message_bytes": round(sum(map(len, messages)) / len(messages)) if messages else 0,
            "cpus": os.cpu_count(),
        }
        self.stdout.write(json.dumps(result))


def make_data(*, subscribers: int, tags: int, entries: int, seed: int = 42) -> Digest:
    """A digest of `entries` entries over `tags` tags, and readers with random tags and languages."""
    import datetime

    rng = random.Random(seed)
    tag_rows = Tag.objects.bulk_create([Tag(slug=f"tag-{i}", name=f"Tag {i}") for i in range(tags)])
    digest = Digest.objects.create(date=datetime.date(2025, 5, 29))
    for position in range(entries):
        entry = Entry.objects.create(
            digest=digest,
            position=position,
            title=f"Paper {position}: a study of efficient methods number {position}",
            authors=["Ada Lovelace", "Alan Turing", "Yang (Katie)Zhao"],
            abstract="We study efficient methods for learning. " * 25,
            arxiv_id=f"2505.{10000 + position}",
            commentary_ko="이 논문은 효율적인 학습 방법을 다룹니다. " * 12,
            commentary_en="This paper studies efficient learning methods. " * 12,
        )
        EntryTag.objects.bulk_create(
            EntryTag(entry=entry, tag=tag, position=i) for i, tag in enumerate(rng.sample(tag_rows, 2))
        )
    through = Subscriber.tags.through
    chunk = 5000
    for start in range(0, subscribers, chunk):
        rows = Subscriber.objects.bulk_create(
            [
                Subscriber(
                    email=f"reader{i}@bench.example",
                    language=rng.choice("ko en both".split()),
                    state=Subscriber.Status.ACTIVE,
                )
                for i in range(start, min(start + chunk, subscribers))
            ]
        )
        through.objects.bulk_create(
            [
                through(subscriber_id=row.pk, tag_id=tag.pk)
                for row in rows
                for tag in rng.sample(tag_rows, rng.choice([0, 1, 2, 3]))
            ]
        )
    return digest


def start_worker(port: int, concurrency: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_BACKEND": delivery.SMTP_BACKEND,
        "EMAIL_USE_TLS": "False",
        "EMAIL_USE_SSL": "False",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
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
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
        ],
        env=env,
        start_new_session=True,
    )


def wait_until_sent(digest: Digest, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_sweep = time.monotonic()
    while time.monotonic() < deadline:
        status = Digest.objects.filter(pk=digest.pk).values_list("status", flat=True).get()
        if status == Digest.Status.SENT:
            return
        if time.monotonic() - last_sweep > settings.DELIVERY_SWEEP_SECONDS:
            delivery.sweep()
            last_sweep = time.monotonic()
        time.sleep(0.1)
    raise CommandError(f"the digest was not sent within {timeout}s")


def read_received(stats: Path, *, at_least: int) -> int:
    for _ in range(50):
        try:
            return json.loads(stats.read_text())["received"]
        except (FileNotFoundError, ValueError):
            time.sleep(0.1)
    return at_least


def sample_messages(digest: Digest, limit: int) -> list[bytes]:
    """The same prebuilt messages the send made, for up to `limit` readers."""
    rows = list(
        Delivery.objects.filter(digest=digest, status=Delivery.Status.SENT)
        .order_by("pk")
        .values_list("pk", "digest_id", "subscriber_id", "variant_id", "attempts", "subscriber__email")[
            :limit
        ]
    )
    domain = delivery.site_domain()
    return [
        delivery._variant_template(row[3]).render(**delivery._reader_fields(delivery._Row(*row), domain))
        for row in rows
    ]


def _push(args: tuple[int, list[bytes]]) -> None:
    port, messages = args
    connection = smtplib.SMTP("127.0.0.1", port)
    for data in messages:
        connection.sendmail("bench@localhost", ["reader@bench.example"], data)
    connection.quit()


def push_ceiling(messages: list[bytes], *, port: int, processes: int) -> float:
    """Messages per second plain smtplib pushes to the sink, one connection per process."""
    if not messages:
        return 0.0
    shares = [messages[i::processes] for i in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        started = time.perf_counter()
        pool.map(_push, [(port, share) for share in shares])
        seconds = time.perf_counter() - started
    return len(messages) / seconds


def peak_rss_mb() -> float:
    """The largest resident size of this process or any child it waited for, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)
