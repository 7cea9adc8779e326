"""The production compose stack, built and started for real (the `deploy_stack` tier).

One stack per test module: the Docker engine (started here if none answers, stopped after if
it was), the images (tests/deploy/stack/engine.py), then docker-compose.yml with the test
override on the host network and test ports, torn down with its volumes however the tests end.
Without Docker it skips with what to install; under CI=true it fails instead (tests/conftest.py).
"""

import json
import mailbox
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import REPO_ROOT, missing_service
from tests.deploy.stack import engine

PROJECT = "digestdeploytest"
HOST = "news.digest-lab.net"
OVERRIDE = Path(__file__).resolve().parent / "docker-compose.test.yml"
APP_IMAGE = "digest-site:deploy-test"
# Well away from the services the machine already runs (PostgreSQL 5432, Redis 6379, 8000s).
PORTS = {
    "STACK_POSTGRES_PORT": 55432,
    "STACK_REDIS_PORT": 56379,
    "STACK_WEB_PORT": 58000,
    "STACK_SMTP_PORT": 51025,
}
RATE_LIMIT = 100  # messages per second over all workers: a send of 300 lasts about 3 s

pytestmark = pytest.mark.deploy_stack


_HEADERS = BytesHeaderParser(policy=policy.default)


def _parse(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


class Stack:
    """The running compose project: commands in its containers, HTTP to its web, its sink's mail."""

    def __init__(self, *, compose_file: Path, maildir: Path, timings: dict[str, float]) -> None:
        self.compose_file = compose_file
        self.maildir = maildir
        self.timings = timings
        self.web = f"http://127.0.0.1:{PORTS['STACK_WEB_PORT']}"
        self._seen: dict[str, tuple[str, str]] = {}
        self._web = ""

    def compose(self, *args: str, timeout: float = 300, check: bool = True, input: str | None = None):
        result = subprocess.run(
            ["docker-compose", "-p", PROJECT, "-f", str(self.compose_file), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)}: {result.returncode}\n{result.stderr[-4000:]}"
            )
        return result

    def manage(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        """manage.py in the web container, as an operator's `docker compose exec web ...`.

        Through `docker exec`: the same process in the same container, without the second that
        docker-compose v1 takes to start for every command.
        """
        options = [f"--env={key}={value}" for key, value in (env or {}).items()]
        command = ["exec", "-i", *options, self.web_container(), "python", "manage.py", *args]
        result = subprocess.run(
            ["docker", *command], capture_output=True, text=True, timeout=300, input=input
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)}: {result.returncode}\n{result.stderr[-4000:]}")
        return result.stdout

    def web_container(self) -> str:
        if not self._web:
            (self._web,) = self.containers("web")
        return self._web

    def shell(self, code: str) -> str:
        return self.manage("shell", "--verbosity", "0", "-c", code)

    def containers(self, service: str, *, all: bool = False) -> list[str]:
        args = ["ps", "-q", *(["-a"] if all else []), service]
        return [line for line in self.compose(*args).stdout.split() if line]

    def get(self, path: str, **kwargs) -> requests.Response:
        # The test plays the TLS proxy: Host and X-Forwarded-Proto as the proxy sends them.
        headers = {"Host": HOST, "X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        return requests.get(self.web + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        headers = {"Host": HOST, "X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        return requests.post(self.web + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def healthz(self) -> tuple[int, dict]:
        response = self.get("/healthz")
        return response.status_code, response.json()

    def messages(self, *, to: str) -> list:
        """The messages the sink stored for one recipient, parsed."""
        box = mailbox.Maildir(self.maildir, create=False)
        return [
            _parse(box.get_bytes(key)) for key, (recipient, _) in self.received().items() if recipient == to
        ]

    def received(self) -> dict[str, tuple[str, str]]:
        """Maildir key -> (recipient, Message-ID) of every message stored, headers read once per file."""
        box = mailbox.Maildir(self.maildir, create=False)
        for key in box.iterkeys():
            if key not in self._seen:
                headers = _HEADERS.parsebytes(box.get_bytes(key).split(b"\r\n\r\n", 1)[0])
                self._seen[key] = (str(headers["Delivered-To"]).lower(), str(headers["Message-ID"]))
        return self._seen

    def wait_for(self, what: str, predicate, *, timeout: float, every: float = 1.0):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(every)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _stack_env(maildir: Path, images: dict[str, str]) -> dict[str, str]:
    """What README "Deploying" asks for in .env, plus the override's STACK_* values."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "ALLOWED_HOSTS": HOST,
        "SITE_URL": f"https://{HOST}",
        "DEFAULT_FROM_EMAIL": f"Research Digest <digest@{HOST}>",
        "UNSUBSCRIBE_MAILTO": f"unsubscribe@{HOST}",
        "STACK_MAILDIR": str(maildir),
        "STACK_RATE_LIMIT": str(RATE_LIMIT),
        **{key: str(value) for key, value in PORTS.items()},
        **images,
    }


def resolve_compose(*, env: dict[str, str], out: Path) -> dict:
    """docker-compose.yml + the override, resolved, without published ports.

    Published ports are the one thing an override cannot remove (compose v1 merges lists) and
    the engine refuses them on the host network; nothing else is changed here.
    """
    empty = out.parent / "empty.env"
    empty.write_text("")
    result = subprocess.run(
        ["docker-compose", "--env-file", str(empty), "-f", str(REPO_ROOT / "docker-compose.yml")]
        + ["-f", str(OVERRIDE), "config"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={"PATH": os.environ["PATH"], "HOME": str(out.parent), **env},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    for service in resolved["services"].values():
        service.pop("ports", None)
    out.write_text(yaml.safe_dump(resolved, sort_keys=False))
    return resolved


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory) -> Iterator[None]:
    if not shutil.which("docker-compose") or not (shutil.which("docker") and shutil.which("dockerd")):
        missing_service("Docker is not installed: apt-get install docker.io docker-compose debootstrap")
    started = None
    if not engine.engine_answers():
        try:
            started = engine.start_engine(log=tmp_path_factory.mktemp("dockerd") / "dockerd.log")
        except engine.DockerMissing as exc:
            missing_service(str(exc))
    yield
    if started is not None:
        engine.stop_engine(started)


@pytest.fixture(scope="module")
def stack(docker_engine, tmp_path_factory) -> Iterator[Stack]:
    busy = [port for port in PORTS.values() if not _port_free(port)]
    assert not busy, f"test ports already in use on 127.0.0.1: {busy}"
    work = tmp_path_factory.mktemp("stack")
    maildir = work / "maildir"
    maildir.mkdir()
    maildir.chmod(0o777)  # the image's `app` user (uid 10001) writes it
    timings: dict[str, float] = {}

    started = time.monotonic()
    try:
        base = engine.base_image()
        timings["base image (s)"] = time.monotonic() - started
        # The three builds wait mostly on the network (apt, PyPI): side by side they take about
        # the time of the longest.
        with ThreadPoolExecutor(max_workers=3) as pool:
            app = pool.submit(engine.build_app_image, tag=APP_IMAGE, base=base, context=REPO_ROOT)
            services = {
                variable: pool.submit(_service_image, image=image, name=name, base=base)
                for variable, image, name in (
                    ("STACK_POSTGRES_IMAGE", "postgres:16", "postgres"),
                    ("STACK_REDIS_IMAGE", "redis:7", "redis"),
                )
            }
            images = {variable: future.result() for variable, future in services.items()}
            timings["app image build (s)"] = app.result()
        timings["all images (s)"] = time.monotonic() - started
    except engine.DockerMissing as exc:
        missing_service(str(exc))
    timings["app image size (MB)"] = engine.image_size_mb(APP_IMAGE)

    compose_file = work / "docker-compose.stack.yml"
    resolve_compose(env=_stack_env(maildir, {**images, "STACK_APP_IMAGE": APP_IMAGE}), out=compose_file)
    running = Stack(compose_file=compose_file, maildir=maildir, timings=timings)
    try:
        up = time.monotonic()
        running.compose("up", "-d", "--no-build", timeout=600)
        timings["docker-compose up -d (s)"] = time.monotonic() - up
        running.wait_for("a healthy /healthz", lambda: _healthy(running), timeout=120)
        timings["up to healthy /healthz (s)"] = time.monotonic() - up
        yield running
    finally:
        logs = running.compose("logs", "--no-color", "--tail", "200", check=False, timeout=60).stdout
        (work / "compose.log").write_text(logs)
        down = running.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False, timeout=300)
        print(f"\nstack timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}; logs in {work}")
        assert down.returncode == 0, down.stderr


def _service_image(*, image: str, name: str, base: str) -> str:
    """The registry's image when the machine has it, else the stand-in."""
    return image if engine.image_exists(image) else engine.standin_image(name=name, base=base)


def _healthy(stack: Stack) -> dict | None:
    try:
        status, body = stack.healthz()
    except (requests.RequestException, ValueError):
        return None
    return body if status == 200 else None


def link_in(message, pattern: str) -> str:
    """The first URL matching pattern in a message's text part."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(pattern, text)
    assert found, f"no {pattern} in:\n{text}"
    return found.group(0)
