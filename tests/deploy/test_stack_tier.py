"""The deploy_stack tier (tests/deploy/stack) without Docker: a developer gets a skip saying what
to install, CI gets a failure. And its compose override changes only what a test machine needs."""

import os
import subprocess
import sys

import yaml

from tests.conftest import REPO_ROOT
from tests.deploy.stack.conftest import resolve_compose
from tests.deploy.test_compose import REQUIRED, compose

# Where the services are (loopback ports), who the proxy is, no arXiv, and send timing.
TEST_MACHINE_VARIABLES = {
    *("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "EMAIL_HOST", "EMAIL_PORT", "BIND_HOST", "PORT"),
    *("TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS", "ARXIV_API_URL", "ARXIV_TIMEOUT"),
    *("DELIVERY_LEASE_SECONDS", "DELIVERY_SWEEP_SECONDS", "DELIVERY_BATCH_SIZE", "DELIVERY_RATE_LIMIT"),
    *("EMAIL_TIMEOUT", "DELIVERY_BATCH_SECONDS", "DELIVERY_HEARTBEAT_SECONDS"),
    *("WORKER_CONCURRENCY", "GUNICORN_WORKERS", "HEALTHZ_WORKER_TIMEOUT"),
}


def run_tier(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """The tier in a pytest subprocess whose PATH has no docker, docker-compose or dockerd."""
    base = {key: value for key, value in os.environ.items() if key not in ("CI", "REQUIRE_SERVICES")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "deploy_stack",
            "-rs",
            "tests/deploy/stack",
        ],
        cwd=REPO_ROOT,
        env={**base, "PATH": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_docker_the_tier_skips_with_what_to_install(tmp_path):
    result = run_tier(tmp_path)

    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in result.stdout and "passed" not in result.stdout
    assert "apt-get install docker.io docker-compose debootstrap" in result.stdout


def test_without_docker_the_tier_fails_in_ci(tmp_path):
    result = run_tier(tmp_path, CI="true")

    assert result.returncode == 1
    assert "required service missing: Docker is not installed" in result.stdout


def test_the_stack_override_changes_only_network_ports_images_mail_and_timing(tmp_path):
    stack_env = {
        **REQUIRED,
        "STACK_APP_IMAGE": "digest-site:deploy-test",
        "STACK_POSTGRES_IMAGE": "postgres:16",
        "STACK_REDIS_IMAGE": "redis:7",
        "STACK_POSTGRES_PORT": "55432",
        "STACK_REDIS_PORT": "56379",
        "STACK_WEB_PORT": "58000",
        "STACK_SMTP_PORT": "51025",
        "STACK_MAILDIR": str(tmp_path / "maildir"),
        "STACK_RATE_LIMIT": "100",
    }
    production = yaml.safe_load(compose("config", env=REQUIRED, tmp_path=tmp_path).stdout)["services"]

    tested = resolve_compose(env=stack_env, out=tmp_path / "stack.yml")["services"]

    assert set(tested) == set(production)
    allowed = {"network_mode", "ports", "image", "command", "healthcheck", "environment", "volumes"}
    for name, service in tested.items():
        changed = {
            key
            for key in set(service) | set(production[name])
            if service.get(key) != production[name].get(key)
        }
        assert changed <= allowed, (name, changed)
        assert service["network_mode"] == "host" and "ports" not in service
        assert "networks" not in service
    for name in ("migrate", "web", "worker", "beat"):
        env, before = tested[name]["environment"], production[name]["environment"]
        changed = {key for key in env if env[key] != before.get(key)}
        assert changed <= TEST_MACHINE_VARIABLES, (name, changed)
        assert env["DEBUG"] == "False" and env["SECRET_KEY"] == REQUIRED["SECRET_KEY"]
        assert all("127.0.0.1" in env[key] for key in ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_HOST"))
    assert tested["mail"]["command"][:3] == ["python", "-m", "newsletters.mail.smtpsink"]
