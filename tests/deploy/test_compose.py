"""docker-compose.yml, the Dockerfile, docker/entrypoint.sh and .env.example agree and make sense
for `docker compose up`. These need no Docker engine: Debian's docker-compose (v1) validates and
resolves the file, and the entrypoint's roles run here directly. tests/deploy/stack builds the
image and runs the stack for real (the deploy_stack tier, `make deploy-test`)."""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, missing_service
from tests.deploy.conftest import production_env

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"
APP_SERVICES = ("migrate", "web", "worker", "beat")
REQUIRED = {
    "SECRET_KEY": "compose-test-secret-key",
    "POSTGRES_PASSWORD": "composetestpassword",
    "ALLOWED_HOSTS": "news.digest-lab.net",
    "SITE_URL": "https://news.digest-lab.net",
    "DEFAULT_FROM_EMAIL": "Research Digest <digest@news.digest-lab.net>",
    "UNSUBSCRIBE_MAILTO": "unsubscribe@news.digest-lab.net",
}


def compose(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """docker-compose on our file, with exactly env (an empty env file, so a local .env cannot leak in)."""
    command = shutil.which("docker-compose")
    if not command:
        missing_service("docker-compose is not installed: apt-get install docker-compose")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run(
        [command, "--env-file", str(empty), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO_ROOT,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def resolved(tmp_path) -> dict:
    result = compose("config", env=REQUIRED, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_and_has_the_production_services(resolved):
    assert set(resolved["services"]) == {"postgres", "redis", "migrate", "web", "worker", "beat", "mail"}


def test_app_services_run_after_migrations_on_healthy_postgres_and_redis(resolved):
    for name in ("web", "worker", "beat"):
        assert resolved["services"][name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    for name in ("postgres", "redis", "web", "worker", "mail"):
        assert resolved["services"][name]["healthcheck"]["test"], name


def test_app_services_share_one_image_and_the_production_environment(resolved):
    services = resolved["services"]
    assert [services[name]["command"] for name in APP_SERVICES] == [[name] for name in APP_SERVICES]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert services[name]["build"]["context"] == str(REPO_ROOT)
        assert env["DEBUG"] == "False"
        assert env["SECRET_KEY"] == REQUIRED["SECRET_KEY"]
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["EMAIL_HOST"] == "mail" and env["EMAIL_PORT"] == "1025"


def test_workers_can_be_scaled_and_beat_stays_single(resolved):
    worker = resolved["services"]["worker"]
    # --scale worker=N needs replicas that claim no fixed name or host port.
    assert "container_name" not in worker and "ports" not in worker
    beat = resolved["services"]["beat"]
    assert "container_name" not in beat and "ports" not in beat
    assert beat.get("deploy", {}).get("replicas", 1) == 1


def test_web_and_mail_catcher_ui_are_published_on_loopback_only(resolved):
    assert resolved["services"]["mail"]["image"].startswith("axllent/mailpit")
    assert resolved["services"]["mail"]["ports"] == ["127.0.0.1:8025:8025/tcp"]
    assert resolved["services"]["web"]["ports"] == ["127.0.0.1:8000:8000/tcp"]


def test_forwarded_headers_are_trusted_only_from_the_compose_network(resolved):
    subnet = resolved["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert subnet == "172.30.0.0/24"
    for name in APP_SERVICES:
        assert resolved["services"][name]["environment"]["TRUSTED_PROXIES"] == subnet
    assert resolved["services"]["web"]["environment"]["FORWARDED_ALLOW_IPS"] == subnet


def test_compose_refuses_to_start_without_a_secret_key(tmp_path):
    env = {key: value for key, value in REQUIRED.items() if key != "SECRET_KEY"}

    result = compose("config", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_a_worker_host_can_point_at_another_hosts_postgres_and_redis(tmp_path):
    env = {
        **REQUIRED,
        "DATABASE_URL": "postgres://digest:pw@10.0.0.5:5432/digest",
        "CELERY_BROKER_URL": "redis://10.0.0.5:6379/0",
    }

    result = compose("config", env=env, tmp_path=tmp_path)

    worker_env = yaml.safe_load(result.stdout)["services"]["worker"]["environment"]
    assert worker_env["DATABASE_URL"] == env["DATABASE_URL"]
    assert worker_env["CELERY_BROKER_URL"] == env["CELERY_BROKER_URL"]


def _example_variables() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def _settings_variables() -> set[str]:
    source = (REPO_ROOT / "digest_site" / "settings.py").read_text()
    return set(
        re.findall(r"""(?:env_[a-z]+|os\.environ\.get|os\.getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']""", source)
    )


def _shell_and_compose_variables() -> set[str]:
    text = COMPOSE_FILE.read_text() + ENTRYPOINT.read_text()
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text)) - {"HOSTNAME"}


def test_every_variable_settings_reads_is_listed_in_env_example():
    assert _settings_variables() - _example_variables() == set()
    assert len(_settings_variables()) > 40  # the pattern still finds the settings' variables


def test_every_variable_compose_and_the_entrypoint_read_is_listed_in_env_example():
    assert _shell_and_compose_variables() - _example_variables() == set()


def test_env_example_lists_no_variable_nothing_reads():
    healthcheck = (REPO_ROOT / "docker" / "healthcheck.py").read_text()
    read = (
        _settings_variables() | _shell_and_compose_variables() | set(re.findall(r'"([A-Z_]+)"', healthcheck))
    )
    stale = {name for name in _example_variables() - read if not name.startswith("ANYMAIL_")}
    assert stale == set()


def test_dockerfile_builds_from_pyproject_on_python_slim_as_a_non_root_user():
    lines = [line.strip() for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()]

    # python:3.11-slim unless PYTHON_IMAGE names another base (the stack test's, without a registry).
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines and "FROM ${PYTHON_IMAGE}" in lines
    assert "COPY pyproject.toml ./" in lines
    assert any("collectstatic --noinput" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in lines
    assert os.access(ENTRYPOINT, os.X_OK)


def test_dockerignore_keeps_local_secrets_and_data_out_of_the_image():
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)


def entrypoint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run docker/entrypoint.sh here, with this virtualenv's tools on PATH as in the image."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        cwd=REPO_ROOT,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_entrypoint_points_at_the_compose_postgres_when_no_database_url_is_given():
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["POSTGRES_PASSWORD"] = "composetestpassword"
    show = "import os; print(os.environ['DATABASE_URL'])"

    given = entrypoint("python", "-c", show, env={**env, "DATABASE_URL": "postgres://elsewhere/db"})
    default = entrypoint("python", "-c", show, env=env)

    assert default.stdout.strip() == "postgres://digest:composetestpassword@postgres:5432/digest"
    assert given.stdout.strip() == "postgres://elsewhere/db"


def test_entrypoint_migrate_step_prepares_an_empty_database(tmp_path):
    env = production_env(tmp_path)

    result = entrypoint("migrate", env=env)

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"newsletters_digest", "django_cache"} <= tables
