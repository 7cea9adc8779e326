"""/healthz: database, broker and worker liveness as JSON; 503 when one is down; no secrets.

In-process tests use the test database; the others start the image's `web` role (gunicorn through
docker/entrypoint.sh) in a subprocess with production variables, as a load balancer would see it.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from digest_site.celery import app as celery_app
from tests.conftest import REPO_ROOT, missing_service
from tests.deploy.conftest import production_env
from tests.deploy.test_compose import ENTRYPOINT

HOST = "news.digest-lab.net"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker(settings):
    """Point this process's Celery app at another broker URL for one test."""
    old_url = celery_app.conf.broker_url

    def use(url: str) -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        celery_app.conf.broker_url = url

    yield use
    use(old_url)


def get(url: str) -> tuple[int, dict, float]:
    """Status, JSON body and seconds taken for a GET with the production Host header."""
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"Host": HOST})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.load(exc)
    return status, body, time.monotonic() - started


@contextlib.contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    """The image's web role (gunicorn, one process) on a free port; yields its /healthz URL."""
    port = free_port()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    log = Path(env["VAR_DIR"]) / "web.log"
    process = subprocess.Popen(
        [str(ENTRYPOINT), "web"],
        cwd=REPO_ROOT,
        env={**env, "PATH": path, "PORT": str(port), "GUNICORN_WORKERS": "1"},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/healthz"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


@pytest.mark.django_db
def test_healthz_reports_each_part_as_json(client, settings):
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("this test is about the embedded filesystem broker")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert response.json() == {
        "status": "ok",
        "database": {"status": "ok", "detail": connection.vendor},
        "broker": {"status": "ok", "detail": "filesystem"},
        # Honest rather than green: the filesystem broker cannot be pinged without piling up files.
        "workers": {
            "status": "unknown",
            "detail": "not checked: pings over the filesystem broker pile up for stopped workers",
        },
    }


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down_and_hides_its_password(client, broker):
    broker(f"redis://:broker-pass-123@127.0.0.1:{free_port()}/0")

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"]["status"] == "ok"
    assert body["broker"]["status"] == "error" and "Connection refused" in body["broker"]["detail"]
    assert body["workers"] == {"status": "error", "detail": "broker unreachable"}
    assert "broker-pass-123" not in response.content.decode()


def test_web_role_answers_healthz_in_production(tmp_path):
    env = production_env(tmp_path)

    with serve(env) as url:
        status, body, _ = get(url)
        container_check = subprocess.run(
            [sys.executable, str(REPO_ROOT / "docker" / "healthcheck.py"), "database", "broker"],
            env={**env, "PORT": url.split(":")[2].split("/")[0]},
            capture_output=True,
            text=True,
        )

    assert status == 200 and body["database"] == {"status": "ok", "detail": "sqlite"}
    assert container_check.returncode == 0, container_check.stdout


def test_healthz_is_503_when_the_database_is_down_and_hides_its_password(tmp_path):
    env = production_env(
        tmp_path, DATABASE_URL=f"postgres://digest:db-pass-456@127.0.0.1:{free_port()}/digest"
    )

    with serve(env) as url:
        status, body, _ = get(url)
        container_check = subprocess.run(
            [sys.executable, str(REPO_ROOT / "docker" / "healthcheck.py"), "database", "broker"],
            env={**env, "PORT": url.split(":")[2].split("/")[0]},
            capture_output=True,
            text=True,
        )

    assert status == 503
    assert body["database"]["status"] == "error" and "OperationalError" in body["database"]["detail"]
    assert body["broker"]["status"] == "ok"
    assert "db-pass-456" not in json.dumps(body)
    assert container_check.returncode == 1


@pytest.mark.integration
def test_healthz_follows_worker_liveness_on_redis_and_caches_the_ping(tmp_path):
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        missing_service("set TEST_REDIS_URL=redis://127.0.0.1:6379/15 for the worker liveness test")
    import redis

    try:
        redis.Redis.from_url(redis_url).flushdb()
    except redis.RedisError as exc:
        missing_service(f"Redis is not reachable at {redis_url}: {exc}")
    env = production_env(
        tmp_path,
        CELERY_BROKER_URL=redis_url,
        HEALTHZ_WORKER_TIMEOUT="1",
        HEALTHZ_WORKER_CACHE_SECONDS="3",
    )

    with serve(env) as url:
        first = get(url)
        cached = get(url)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "digest_site", "worker", "-P", "solo"]
            + ["--hostname", "healthz@test", "--without-gossip", "--without-mingle", "-l", "warning"],
            cwd=REPO_ROOT,
            env={**env, "DEBUG": "True"},
            stdout=(tmp_path / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            alive = poll(url, until=200)
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        dead = poll(url, until=503)

    assert first[0] == 503 and first[1]["workers"] == {
        "status": "error",
        "detail": "no worker answered within 1s",
    }
    assert first[2] >= 1.0  # it waited for replies
    assert cached[0] == 503 and cached[2] < 0.5  # the next probe reused the answer
    assert alive["workers"] == {"status": "ok", "detail": "1 worker(s) answered"}
    assert alive["broker"] == {"status": "ok", "detail": "redis"}
    assert dead["workers"]["status"] == "error" and dead["database"]["status"] == "ok"


def poll(url: str, *, until: int, timeout: float = 45) -> dict:
    """GET url every half second until it answers with status until; returns that body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = get(url)
        if status == until:
            return body
        time.sleep(0.5)
    raise AssertionError(f"/healthz never answered {until}: last {status} {body}")
