"""Measure the embedded set-up (`make run`) under a digest send and a stream of sign-ups.

Why: with no services at all the project runs on SQLite and Celery's filesystem broker, and
testers saw it fall behind (2 tasks/s, a digest 233 s late, thousands of confirmations waiting).
This command runs that topology for real, on nothing of the developer's: a throwaway SQLite
database and filesystem broker under a temporary VAR_DIR, the web, worker, mailworker and beat
processes of Procfile.dev started with Procfile.dev's own arguments (read from the file), and an
aiosmtpd sink in this process as the mail server. It makes `--readers` active readers, schedules
a digest `--lead` seconds ahead, and from then on signs people up through the real subscribe
form (GET for the CSRF token, then POST) `--rate` times a second until the digest is sent. The
form's per-IP rate limit is lifted for the web process (SUBSCRIBE_RATE_LIMIT): every sign-up
comes from 127.0.0.1. Everything listens on 127.0.0.1 only, and the run stops itself after
`--timeout` seconds whatever happens. It prints one JSON line.

The database is read here read-only through sqlite3 (this process's own Django database is
never touched, so it may run inside a test); the data is made by this command again, run in a
child process on the throwaway settings (the hidden --prepare and --schedule-in steps).
"""

import datetime
import http.cookiejar
import json
import logging
import os
import re
import resource
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from newsletters.mail.smtpsink import start_sink
from newsletters.management.commands.bench_delivery import MemoryWatch, make_data

PROCESSES = ("web", "worker", "mailworker", "beat")
READER_DOMAIN = "bench.example"
SIGNUP_DOMAIN = "signup.example"
# Whatever a developer's shell points elsewhere is dropped: the run is on embedded defaults.
DROPPED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "CACHE_URL",
    "EMAIL_BACKEND",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "ALERT_EMAIL_BACKEND",
)


class Command(BaseCommand):
    help = "Benchmark the embedded set-up (make run) under a digest and sign-ups; prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--readers", type=int, default=5000)
        parser.add_argument("--tags", type=int, default=8)
        parser.add_argument("--entries", type=int, default=11)
        parser.add_argument("--rate", type=float, default=20.0, help="sign-ups per second")
        parser.add_argument(
            "--lead", type=float, default=5.0, help="seconds from scheduling to the send time"
        )
        parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for confirmations")
        parser.add_argument("--timeout", type=float, default=900.0, help="the whole run stops after this")
        parser.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="extra settings for every process",
        )
        parser.add_argument("--procfile", default=str(Path(settings.BASE_DIR) / "Procfile.dev"))
        # Steps run in a child process on the throwaway settings.
        parser.add_argument("--prepare", action="store_true", help="(internal) make the readers and digest")
        parser.add_argument(
            "--schedule-in", type=float, help="(internal) schedule the digest, print its time"
        )

    def handle(self, *args, **opts) -> None:
        if opts["prepare"]:
            self.stdout.write(
                str(prepare(readers=opts["readers"], tags=opts["tags"], entries=opts["entries"]))
            )
            return
        if opts["schedule_in"] is not None:
            self.stdout.write(str(schedule_in(opts["schedule_in"])))
            return
        extra = dict(item.split("=", 1) for item in opts["env"])
        result = run(
            readers=opts["readers"],
            tags=opts["tags"],
            entries=opts["entries"],
            rate=opts["rate"],
            lead=opts["lead"],
            drain=opts["drain"],
            timeout=opts["timeout"],
            procfile=Path(opts["procfile"]),
            extra_env=extra,
        )
        self.stdout.write(json.dumps(result))


def prepare(*, readers: int, tags: int, entries: int) -> int:
    """In the child: the readers, a staff login that may send, and the digest; its id."""
    from django.contrib.auth.models import Permission, User

    from newsletters.models import Digest
    from subscribers.models import Subscriber

    if Subscriber.objects.exists() or Digest.objects.exists():
        raise CommandError("bench_embedded --prepare needs an empty, throwaway database")
    digest = make_data(subscribers=readers, tags=tags, entries=entries)
    user = User.objects.create_user("bench", "bench@localhost", None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="send_digest"))
    return digest.pk


def schedule_in(seconds: float) -> float:
    """In the child: schedule the one digest `seconds` from now, as an editor would; the epoch time."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from newsletters.delivery import schedule
    from newsletters.models import Digest

    at = timezone.now() + datetime.timedelta(seconds=seconds)
    digest = Digest.objects.get()
    schedule.schedule_send(digest_id=digest.pk, user=User.objects.get(username="bench"), at=at)
    return at.timestamp()


def procfile_commands(path: Path, *, web_port: int) -> dict[str, list[str]]:
    """Procfile.dev's web, worker, mailworker and beat lines as argv, run with this Python."""
    lines = dict(
        line.split(":", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    commands = {}
    for name in PROCESSES:
        if name not in lines:
            raise CommandError(f"{path} has no {name!r} process")
        argv = shlex.split(lines[name])
        if argv[0] == "celery":
            argv = [sys.executable, "-m", "celery", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        argv = [str(Path(settings.BASE_DIR) / "manage.py") if arg == "manage.py" else arg for arg in argv]
        if name == "web":
            # The same server on a free port of its own.
            argv = [re.sub(r"^127\.0\.0\.1:\d+$", f"127.0.0.1:{web_port}", arg) for arg in argv]
        commands[name] = argv
    return commands


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Arrivals:
    """An SMTP handler that notes when each message arrived and for whom."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.digests: list[float] = []
        self.confirmations: list[float] = []
        self.other = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        now = time.time()
        with self.lock:
            for recipient in envelope.rcpt_tos:
                domain = recipient.rpartition("@")[2].lower()
                if domain == READER_DOMAIN:
                    self.digests.append(now)
                elif domain == SIGNUP_DOMAIN:
                    self.confirmations.append(now)
                else:
                    self.other += 1
        return "250 OK"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class SignupLoad:
    """Signs up `rate` new addresses a second through the subscribe form, open loop.

    Each sign-up is a new visitor: GET the form (a CSRF cookie and token), then POST it. A
    thread pool keeps the pace when the site is slow; answers are counted, not awaited.
    """

    CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')

    def __init__(self, *, base_url: str, rate: float) -> None:
        self.url = base_url + "/subscribe/"
        self.rate = rate
        self.lock = threading.Lock()
        self.started = 0
        self.accepted = 0  # answered with the redirect to "check your inbox"
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=32)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        begin = time.monotonic()
        number = 0
        while not self._stop.is_set():
            self._pool.submit(self._sign_up, number)
            number += 1
            self._stop.wait(max(0.0, begin + number / self.rate - time.monotonic()))

    def _sign_up(self, number: int) -> None:
        with self.lock:
            self.started += 1
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        started = time.monotonic()
        try:
            page = opener.open(self.url, timeout=30).read()
            token = self.CSRF.search(page)
            if not token:
                raise ValueError("no CSRF token on the form")
            body = urllib.parse.urlencode(
                {
                    "csrfmiddlewaretoken": token.group(1).decode(),
                    "email": f"new{number}@{SIGNUP_DOMAIN}",
                    "language": "en",
                }
            ).encode()
            try:
                opener.open(self.url, data=body, timeout=30)
                outcome = "200 (form refused)"
            except urllib.error.HTTPError as exc:
                outcome = "accepted" if exc.code == 302 else str(exc.code)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the load goes on
            outcome = type(exc).__name__
        with self.lock:
            self.latencies.append(time.monotonic() - started)
            if outcome == "accepted":
                self.accepted += 1
            else:
                self.errors[outcome] = self.errors.get(outcome, 0) + 1


class Throwaway:
    """The read-only view of the throwaway database this process needs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def digest_status(self, digest_id: int) -> str:
        return self._query("SELECT status FROM newsletters_digest WHERE id = ?", (digest_id,))[0][0]

    def delivery_counts(self, digest_id: int) -> dict[str, int]:
        rows = self._query(
            "SELECT status, COUNT(*) FROM newsletters_delivery WHERE digest_id = ? GROUP BY status",
            (digest_id,),
        )
        return dict(rows)


def child_env(*, var_dir: Path, sink_port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(
        {
            "VAR_DIR": str(var_dir),
            "DJANGO_SETTINGS_MODULE": "digest_site.settings",
            "PYTHONPATH": str(settings.BASE_DIR),
            "PYTHONUNBUFFERED": "1",
            # As `make run`: development settings, staff mail to the catcher (here the sink).
            "DEBUG": "True",
            "ADMINS": "Digest staff <staff@localhost>",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink_port),
            "EMAIL_USE_TLS": "False",
            "EMAIL_USE_SSL": "False",
            # Every sign-up comes from 127.0.0.1: the per-IP limit of the form is lifted.
            "SUBSCRIBE_RATE_LIMIT": "1000000000",
        }
    )
    env.update(extra)
    return env


def wait_for(check, *, timeout: float, what: str, processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise CommandError(f"{name} exited with {process.returncode} before {what}")
        if check():
            return
        time.sleep(0.2)
    raise CommandError(f"timed out waiting for {what}")


def run(
    *,
    readers: int,
    tags: int,
    entries: int,
    rate: float,
    lead: float,
    drain: float,
    timeout: float,
    procfile: Path,
    extra_env: dict[str, str],
) -> dict:
    run_deadline = time.monotonic() + timeout
    load_before = os.getloadavg()
    arrivals = Arrivals()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd narrates every command
    sink = start_sink(arrivals)
    processes: dict[str, subprocess.Popen] = {}
    memory = MemoryWatch()
    load: SignupLoad | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
            tmp_path = Path(tmp)
            var_dir = tmp_path / "var"
            var_dir.mkdir()
            env = child_env(var_dir=var_dir, sink_port=sink.port, extra=extra_env)
            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

            def child(*argv: str) -> str:
                done = subprocess.run(
                    [*manage, *argv], env=env, cwd=tmp, capture_output=True, text=True, timeout=timeout
                )
                if done.returncode:
                    raise CommandError(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
                return done.stdout.strip()

            child("migrate", "--noinput")
            child("createcachetable")
            digest_id = int(
                child(
                    "bench_embedded",
                    "--prepare",
                    f"--readers={readers}",
                    f"--tags={tags}",
                    f"--entries={entries}",
                ).splitlines()[-1]
            )

            web_port = free_port()
            logs = {}
            for name, argv in procfile_commands(procfile, web_port=web_port).items():
                logs[name] = tmp_path / f"{name}.log"
                with open(logs[name], "wb") as log:
                    processes[name] = subprocess.Popen(
                        argv, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                memory.watch(name, processes[name].pid)
            memory.start()
            base_url = f"http://127.0.0.1:{web_port}"

            def ready() -> bool:
                text = {name: path.read_text(errors="replace") for name, path in logs.items()}
                if " ready." not in text["worker"] or " ready." not in text["mailworker"]:
                    return False
                if "beat: Starting" not in text["beat"]:
                    return False
                try:
                    return urllib.request.urlopen(base_url + "/subscribe/", timeout=5).status == 200
                except OSError:
                    return False

            try:
                wait_for(ready, timeout=120, what="the processes to start", processes=processes)
            except CommandError as exc:
                tails = {name: path.read_text(errors="replace")[-1500:] for name, path in logs.items()}
                raise CommandError(f"{exc}\n{json.dumps(tails, indent=1)}") from exc

            scheduled_at = float(child("bench_embedded", f"--schedule-in={lead}").splitlines()[-1])
            load = SignupLoad(base_url=base_url, rate=rate)
            load.start()
            database = Throwaway(var_dir / "db.sqlite3")
            final = {"sent", "failed", "paused", "missed", "cancelled"}
            max_backlog = 0
            status = "scheduled"

            def backlog() -> int:
                with arrivals.lock:
                    delivered = len(arrivals.confirmations)
                with load.lock:
                    return load.accepted - delivered

            while time.monotonic() < run_deadline:
                max_backlog = max(max_backlog, backlog())
                status = database.digest_status(digest_id)
                if status in final:
                    break
                time.sleep(0.5)
            load.stop()
            backlog_at_send_end = backlog()
            max_backlog = max(max_backlog, backlog_at_send_end)
            load_stopped = time.time()
            drain_deadline = min(time.monotonic() + drain, run_deadline)
            while backlog() > 0 and time.monotonic() < drain_deadline:
                time.sleep(0.5)
            memory.poll()
            counts = database.delivery_counts(digest_id)
    finally:
        if load is not None and not load._stop.is_set():
            load.stop()
        memory.stop()
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        sink.stop()

    with arrivals.lock:
        digest_times = list(arrivals.digests)
        confirmation_times = list(arrivals.confirmations)
    latencies = sorted(load.latencies) or [0.0]
    peaks = {role: round(max(seen.values(), default=0) / 1024, 1) for role, seen in memory.seen.items()}
    peaks["bench"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {
        "readers": readers,
        "digest_status": status,
        "sent": counts.get("sent", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "received": len(digest_times),
        "first_digest_seconds": round(min(digest_times) - scheduled_at, 2) if digest_times else None,
        "finish_seconds": round(max(digest_times) - scheduled_at, 2) if digest_times else None,
        "signup_rate": rate,
        "confirmations_requested": load.accepted,
        "confirmations_delivered": len(confirmation_times),
        "confirmations_max_backlog": max_backlog,
        "confirmations_backlog_at_send_end": backlog_at_send_end,
        "confirmations_drained_seconds": (
            round(max(confirmation_times) - load_stopped, 2)
            if confirmation_times and len(confirmation_times) >= load.accepted
            else None
        ),
        "signup_errors": load.errors,
        "signup_p95_seconds": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "peak_rss_mb": max(peaks.values()),
        "rss_mb": peaks,
        "env": extra_env,
        "cpus": os.cpu_count(),
        "load_before": round(load_before[0], 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
