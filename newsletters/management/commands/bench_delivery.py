"""Measure the daily send through the production code path, and the SMTP ceiling beside it.

Why: the delivery design promises that rendering grows with variants, not readers, that the
workers come close to what plain smtplib can push to the same server, and that no process's
memory grows with the number of readers. This command makes N readers over T tags in an EMPTY
(throwaway) database, starts an SMTP sink in its own process, sends a day's digest (through a
real broker and `--workers` `celery worker` processes when CELERY_BROKER_URL is set, else in
this process), then pushes the same prebuilt messages with plain smtplib, one connection per
process and as many processes as the workers have pool processes, streamed from a spool file.
It prints one JSON line, with every process's peak resident memory.
"""

import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from digest_site.celery import app as celery_app
from digest_site.mailname import mail_domain
from newsletters.delivery import ledger, planning, sending
from newsletters.delivery.senders import SMTP_BACKEND
from newsletters.mail.smtpsink import write_spool
from newsletters.models import Delivery, Digest, DigestVariant, Entry, EntryTag, Tag
from subscribers.models import Subscriber


class Command(BaseCommand):
    help = "Benchmark the daily send on a throwaway database; prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--subscribers", type=int, default=1000)
        parser.add_argument("--tags", type=int, default=30)
        parser.add_argument("--entries", type=int, default=11)
        parser.add_argument("--workers", type=int, default=1, help="`celery worker` processes")
        parser.add_argument(
            "--concurrency", type=int, default=os.cpu_count() or 2, help="pool processes per worker"
        )
        parser.add_argument("--batch-size", type=int, default=settings.DELIVERY_BATCH_SIZE)
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
        # As in production: with DEBUG on, Django keeps each process's last 9,000 queries, which
        # would be measured here as memory growing with the number of readers.
        settings.DEBUG = False
        digest = make_data(subscribers=opts["subscribers"], tags=opts["tags"], entries=opts["entries"])
        settings.DELIVERY_BATCH_SIZE = opts["batch_size"]
        use_workers = bool(os.environ.get("CELERY_BROKER_URL"))
        senders = opts["workers"] * opts["concurrency"] if use_workers else 1
        load_before = os.getloadavg()
        memory = MemoryWatch()
        with tempfile.TemporaryDirectory() as tmp:
            stats = Path(tmp) / "sink.json"
            sink = subprocess.Popen(
                [sys.executable, "-m", "newsletters.mail.smtpsink", "--port", "0", "--stats", str(stats)],
                stdout=subprocess.PIPE,
            )
            port = int(sink.stdout.readline())
            memory.watch("sink", sink.pid)
            settings.EMAIL_BACKEND = SMTP_BACKEND
            settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
            settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
            settings.EMAIL_HOST_USER = ""
            workers = []
            if use_workers:
                for number in range(1, opts["workers"] + 1):
                    worker = start_worker(
                        port, opts["concurrency"], name=f"bench{number}", batch_size=opts["batch_size"]
                    )
                    workers.append(worker)
                    memory.watch(f"worker{number}", worker.pid)
            eager = celery_app.conf.task_always_eager
            celery_app.conf.task_always_eager = not workers
            memory.start()
            try:
                renders_before = planning.render_count
                started = time.perf_counter()
                planning.start_send(digest_id=digest.pk)
                start_seconds = time.perf_counter() - started
                wait_until_sent(digest, timeout=opts["timeout"])
                seconds = time.perf_counter() - started
                renders = planning.render_count - renders_before
                spool = str(Path(tmp) / "spool")
                spooled, spooled_bytes = write_spool(spool, sample_messages(digest, opts["ceiling_messages"]))
                ceiling, pushers = push_ceiling(spool, port=port, processes=senders)
                memory.poll()
            finally:
                memory.stop()
                celery_app.conf.task_always_eager = eager
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGTERM)
                for worker in workers:
                    worker.wait(30)
                sink.send_signal(signal.SIGTERM)
                sink.wait(30)
            received = read_received(stats, at_least=0) - spooled
        counts = ledger.delivery_progress(digest)["counts"]
        rss = {
            "bench": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            **memory.peaks(),
            "ceiling": max((p["peak_rss_mb"] for p in pushers), default=0),
        }
        result = {
            "subscribers": opts["subscribers"],
            "tags": opts["tags"],
            "entries": opts["entries"],
            "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            "broker": "celery worker" if workers else "in-process",
            "workers": len(workers),
            "concurrency": opts["concurrency"] if workers else 1,
            "batch_size": opts["batch_size"],
            "skipped": counts.get(Delivery.Status.SKIPPED, 0),
            "sent": counts.get(Delivery.Status.SENT, 0),
            "failed": counts.get(Delivery.Status.FAILED, 0),
            "variants": DigestVariant.objects.filter(digest=digest).count(),
            "renders": renders,
            "received": received,
            "seconds": round(seconds, 2),
            "start_seconds": round(start_seconds, 2),
            "messages_per_second": round(received / seconds, 1) if seconds else 0,
            "ceiling_messages_per_second": round(ceiling, 1),
            "ceiling_messages": spooled,
            "peak_rss_mb": max(flatten(rss)),
            "rss_mb": rss,
            "avg_message_bytes": round(spooled_bytes / spooled) if spooled else 0,
            "cpus": os.cpu_count(),
            "load_before": round(load_before[0], 2),
            "load_after": round(os.getloadavg()[0], 2),
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


def start_worker(port: int, concurrency: int, *, name: str, batch_size: int) -> subprocess.Popen:
    """A `celery worker` (prefork, its own node name) sending to the sink, in its own session."""
    env = {
        **os.environ,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_USE_TLS": "False",
        "EMAIL_USE_SSL": "False",
        "DELIVERY_BATCH_SIZE": str(batch_size),
        "LOG_LEVEL": "WARNING",
        "DEBUG": "False",
        # A non-debug process refuses the development key; the workers only sign links.
        "SECRET_KEY": secrets.token_urlsafe(50)
        if settings.SECRET_KEY == settings.DEV_SECRET_KEY
        else settings.SECRET_KEY,
        "ALLOWED_HOSTS": ",".join(settings.ALLOWED_HOSTS) or "localhost",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "digest_site",
            "worker",
            "-n",
            f"{name}@%h",
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
        stdout=sys.stderr,  # this command's output is its one JSON line
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
            ledger.sweep()
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


def sample_messages(digest: Digest, limit: int) -> Iterator[bytes]:
    """The same prebuilt messages the send made, for up to `limit` readers, one at a time."""
    rows = (
        Delivery.objects.filter(digest=digest, status=Delivery.Status.SENT)
        .order_by("pk")
        .values_list("pk", "digest_id", "subscriber_id", "variant_id", "attempts", "subscriber__email")
    )
    domain = mail_domain()
    for row in rows[:limit].iterator(chunk_size=500):
        reader = ledger.Row(*row, token="")
        yield sending.variant_template(reader.variant_id).render(**sending.reader_fields(reader, domain))


def push_ceiling(spool: str, *, port: int, processes: int) -> tuple[float, list[dict]]:
    """Messages per second plain smtplib pushes to the sink, one connection per process."""
    pushers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsletters.mail.smtpsink",
                "--push",
                spool,
                "--port",
                str(port),
                "--share",
                f"{share}/{processes}",
            ],
            stdout=subprocess.PIPE,
        )
        for share in range(processes)
    ]
    reports = [json.loads(pusher.communicate()[0]) for pusher in pushers]
    sent = sum(report["sent"] for report in reports)
    seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    return (sent / seconds if sent and seconds > 0 else 0.0), reports


def flatten(value) -> Iterator[float]:
    """Every number in a nest of dicts and lists."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from flatten(item)
    else:
        yield value


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def peak_rss_kb(pid: int) -> int:
    """The kernel's high-water mark of this process's resident memory (VmHWM), in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryWatch:
    """Peak resident memory of each watched process and its children, polled from /proc.

    VmHWM is the kernel's own peak, so polling only has to catch a process before it exits:
    every second, and once more just before the processes are stopped.
    """

    def __init__(self) -> None:
        self.roots: dict[str, int] = {}
        self.seen: dict[str, dict[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, role: str, pid: int) -> None:
        self.roots[role] = pid
        self.seen[role] = {}

    def poll(self) -> None:
        for role, root in self.roots.items():
            for pid in process_tree(root):
                peak = peak_rss_kb(pid)
                self.seen[role][pid] = max(self.seen[role].get(pid, 0), peak)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.poll()

    def start(self) -> None:
        self.poll()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def peaks(self) -> dict:
        """role -> MB: the process's peak, or for a worker {"main": MB, "pool": [MB, ...]}."""
        result: dict = {}
        for role, root in self.roots.items():
            seen = self.seen[role]
            main = round(seen.get(root, 0) / 1024, 1)
            others = sorted((round(kb / 1024, 1) for pid, kb in seen.items() if pid != root), reverse=True)
            result[role] = {"main": main, "pool": others} if role.startswith("worker") else main
        return result
