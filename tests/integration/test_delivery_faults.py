"""Faults injected into a send on real parts: a PostgreSQL outage, a broker that loses its
queue (FLUSHALL), kill -9 of every worker, SIGTERM to the worker's process group.

Each test sends to READERS readers with `celery worker` subprocesses, injects its fault
mid-send, runs the sweep every second (as beat would, through the task function) and asserts
what readers got: everyone at least once, duplicates within what the fault can cost, and the
send finished within a minute of the world being whole again. The PostgreSQL outage runs on a
throwaway cluster of the test's own (a copy of the test database), and FLUSHALL on a Redis of
its own: the shared servers are never stopped or flushed.

Each test prints one line "FAULT {...}" with its figures (readers, raw, distinct, duplicates,
seconds to finish after the fault ended).
"""
# ruff: noqa: F811 (pytest fixtures imported from the harness are arguments by name)

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import InterfaceError, OperationalError, connection

from digest_site.celery import app as celery_app
from newsletters import tasks
from newsletters.delivery import planning, sending
from newsletters.models import Delivery, Digest
from subscribers.models import Subscriber
from tests.conftest import REPO_ROOT, missing_service
from tests.integration.test_delivery_workers import (  # noqa: F401 (fixtures used by name)
    CONCURRENCY,
    Workers,
    _use_broker,
    broker_url,
    make_day,
    make_readers,
    postgres,
    smtp,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

READERS = 1500
# The fault strikes once the sink has this many messages: mid-send, with batches on the wire.
STRIKE_AT = 300
# "Recovery in seconds, not a lease": the send ends within this of the world being whole.
RECOVERY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL server tool as the postgres user (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, **kwargs)


class ThrowawayPostgres:
    """A PostgreSQL cluster of this test's own on a free port, which the test may stop."""

    def __init__(self) -> None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not versions:
            missing_service("the PostgreSQL outage test needs the PostgreSQL server binaries")
        self.bin = Path(versions[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="pg-outage-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        as_postgres([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust"])
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir / "server.log")
        as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-o", options, "-l", log, "-w", "start"]
        )

    def stop(self) -> None:
        """Fast shutdown: every connection is cut, as in a crash or failover."""
        as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"])

    def copy_database(self, db: dict) -> None:
        """The test database (schema and rows), copied from the shared server into this cluster."""
        env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
        source = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]
        target = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run([str(self.bin / "createdb"), *target, db["NAME"]], check=True, capture_output=True)
        dump = subprocess.run(
            [str(self.bin / "pg_dump"), *source, "--no-owner", "--no-privileges", db["NAME"]],
            check=True,
            capture_output=True,
            env=env,
        ).stdout
        subprocess.run(
            [str(self.bin / "psql"), *target, "-q", "-v", "ON_ERROR_STOP=1", "-d", db["NAME"]],
            input=dump,
            check=True,
            capture_output=True,
        )

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def outage_db(postgres, settings):
    """Point this process and the workers at a throwaway copy of the test database."""
    cluster = ThrowawayPostgres()
    db = connection.settings_dict
    saved = {key: db[key] for key in ("HOST", "PORT", "USER", "PASSWORD")}
    try:
        cluster.copy_database(db)
        connection.close()
        db.update(HOST="127.0.0.1", PORT=cluster.port, USER="postgres", PASSWORD="")
        yield cluster
    finally:
        connection.close()
        db.update(saved)
        cluster.destroy()


@pytest.fixture
def own_redis(worker_env, tmp_path):
    """A Redis server of this test's own, which it may FLUSHALL."""
    if not shutil.which("redis-server"):
        missing_service("the broker-loss test needs redis-server")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    url = f"redis://127.0.0.1:{port}/0"
    old_url = celery_app.conf.broker_url
    _use_broker(url)
    yield client, url
    _use_broker(old_url)
    server.terminate()
    server.wait(10)


def sweep_every_second_until_sent(digest: Digest, *, timeout: float, workers: Workers | None = None) -> float:
    """Run the sweep task's function every second, as beat would, until the digest is sent; the time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            tasks.sweep_deliveries()
            digest.refresh_from_db()
            if digest.status == Digest.Status.SENT:
                return time.monotonic()
        except (OperationalError, InterfaceError):
            connection.close()  # the database is still coming back
        time.sleep(1)
    counts = Counter(Delivery.objects.filter(digest=digest).values_list("status", flat=True))
    log = workers.log.read_text()[-3000:] if workers else ""
    raise AssertionError(f"digest still {digest.status} after {timeout}s: {dict(counts)}\n{log}")


def wait_for_messages(smtp, count: int, *, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while smtp.count < count:
        assert time.monotonic() < deadline, f"only {smtp.count} messages after {timeout}s"
        time.sleep(0.02)


def start_day(readers: int) -> tuple[Digest, dict]:
    digest, _ = make_day(n_entries=2)
    chosen = make_readers(readers, seed=5)
    # Every reader gets the digest: tags are not this scenario.
    Subscriber.tags.through.objects.all().delete()
    planning.start_send(digest_id=digest.pk)
    return digest, chosen


def figures(fault: str, smtp, readers: dict, recovered_in: float) -> dict:
    received = Counter(item.message_id for item in smtp.received)
    report = {
        "fault": fault,
        "readers": len({item.recipient for item in smtp.received}),
        "of": len(readers),
        "raw": len(smtp.received),
        "distinct": len(received),
        "duplicates": len(smtp.received) - len(received),
        "seconds": round(recovered_in, 1),
    }
    print("FAULT " + json.dumps(report))
    return report


def assert_every_reader_once_within(report: dict, *, duplicates: int, digest: Digest) -> None:
    assert report["readers"] == report["of"], report
    assert report["duplicates"] <= duplicates, report
    assert report["seconds"] <= RECOVERY_SECONDS, report
    assert set(Delivery.objects.filter(digest=digest).values_list("status", flat=True)) == {"sent"}


OUTAGE_SECONDS = 25


def test_a_database_outage_mid_send_costs_no_duplicate_and_the_send_ends_soon_after(
    outage_db, worker_env, smtp, tmp_path
):
    smtp.keep = "headers"
    env = {
        **worker_env,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{outage_db.port}/{connection.settings_dict['NAME']}",
    }
    workers = Workers(env, tmp_path / "worker.log")
    workers.start()
    try:
        digest, readers = start_day(READERS)
        wait_for_messages(smtp, STRIKE_AT)
        outage_db.stop()
        time.sleep(OUTAGE_SECONDS)
        outage_db.start()
        back = time.monotonic()
        done = sweep_every_second_until_sent(digest, timeout=120, workers=workers)
    finally:
        workers.stop()

    report = figures("postgresql outage", smtp, readers, done - back)
    # What the server accepted while the database was down is written once it answers.
    assert_every_reader_once_within(report, duplicates=0, digest=digest)


def test_the_broker_losing_its_queue_mid_send_is_noticed_in_seconds(worker_env, own_redis, smtp, tmp_path):
    client, url = own_redis
    smtp.keep = "headers"
    workers = Workers({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    workers.start()
    try:
        digest, readers = start_day(READERS)
        wait_for_messages(smtp, STRIKE_AT)
        client.flushall()
        flushed = time.monotonic()
        done = sweep_every_second_until_sent(digest, timeout=150, workers=workers)
    finally:
        workers.stop()

    report = figures("redis flushall", smtp, readers, done - flushed)
    # Running batches hold their claims: nothing is sent twice.
    assert_every_reader_once_within(report, duplicates=0, digest=digest)


def test_killing_every_worker_mid_send_resumes_within_a_minute_of_a_new_worker(worker_env, smtp, tmp_path):
    smtp.keep = "headers"
    workers = Workers(worker_env, tmp_path / "worker.log")
    workers.start()
    try:
        digest, readers = start_day(READERS)
        wait_for_messages(smtp, STRIKE_AT)
        workers.kill()
        workers.start()
        restarted = time.monotonic()
        done = sweep_every_second_until_sent(digest, timeout=150, workers=workers)
    finally:
        workers.stop()

    report = figures("kill -9 of all workers", smtp, readers, done - restarted)
    # In flight at the kill: per pool process, accepted messages not yet written (fewer than
    # RECORD_EVERY) and the one on the wire.
    assert_every_reader_once_within(report, duplicates=CONCURRENCY * sending.RECORD_EVERY, digest=digest)


def test_sigterm_to_the_process_group_records_what_was_sent_and_stops_within_the_batch_time(
    worker_env, smtp, tmp_path
):
    smtp.keep = "headers"
    workers = Workers(worker_env, tmp_path / "worker.log")
    workers.start()
    try:
        digest, readers = start_day(READERS)
        wait_for_messages(smtp, STRIKE_AT)
        stopping = time.monotonic()
        os.killpg(workers.process.pid, signal.SIGTERM)  # systemd's default, Ctrl-C in a terminal
        workers.process.wait(60)
        stopped_in = time.monotonic() - stopping
        claimed = Delivery.objects.filter(digest=digest, status=Delivery.Status.SENDING).count()
        workers.start()
        restarted = time.monotonic()
        done = sweep_every_second_until_sent(digest, timeout=150, workers=workers)
    finally:
        workers.stop()

    report = figures("sigterm to the process group", smtp, readers, done - restarted)
    report["stopped_in"], report["left_claimed"] = round(stopped_in, 1), claimed
    print("FAULT " + json.dumps(report))
    # The pool processes wrote what they sent and gave the rest back before exiting.
    assert claimed == 0, report
    assert stopped_in <= worker_env_seconds("DELIVERY_BATCH_SECONDS", worker_env) + 10, report
    assert_every_reader_once_within(report, duplicates=0, digest=digest)


def worker_env_seconds(name: str, env: dict) -> float:
    return float(env[name])


def test_a_worker_refuses_to_start_with_a_lease_shorter_than_three_smtp_timeouts(worker_env):
    env = {**worker_env, "EMAIL_TIMEOUT": "30", "DELIVERY_LEASE_SECONDS": "60"}
    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "digest_site", "worker", "-c", "1", "--without-mingle"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0
    assert "digest_site.E201" in worker.stderr and "at least 90" in worker.stderr
