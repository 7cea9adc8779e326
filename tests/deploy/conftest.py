"""Run manage.py and small probes in subprocesses with a production-like environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBE = Path(__file__).resolve().parent / "probe.py"

# Variables a host running tests may have set (tier 2 sets DATABASE_URL and a broker): the
# subprocesses must read only what each test gives them.
PROJECT_VARIABLES = (
    "ADMINS",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "DEFAULT_FROM_EMAIL",
    "UNSUBSCRIBE_MAILTO",
    "EMAIL_HELO_NAME",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "CACHE_URL",
    "VAR_DIR",
    "STATIC_ROOT",
    "DJANGO_SETTINGS_MODULE",
)


def production_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """The variables README "Deploying" asks for, on a SQLite database under var_dir."""
    # The browser fixture sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright in this process;
    # a production process never has it (check --deploy rejects it), so it is not inherited.
    harness_only = {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in PROJECT_VARIABLES and key not in harness_only
    }
    env.update(
        {
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "news.digest-lab.net",
            "SITE_URL": "https://news.digest-lab.net",
            "DEFAULT_FROM_EMAIL": "Research Digest <digest@news.digest-lab.net>",
            "UNSUBSCRIBE_MAILTO": "unsubscribe@news.digest-lab.net",
            "ADMINS": "Digest staff <staff@news.digest-lab.net>",
            "SECURE_HSTS_PRELOAD": "True",
            "VAR_DIR": str(var_dir),
            "STATIC_ROOT": str(var_dir / "staticfiles"),
            "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a Python command in the repository and capture its output as text."""
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def production_site(tmp_path_factory) -> Path:
    """A migrated SQLite database and collected static files, as the image build and migrate step leave."""
    var_dir = tmp_path_factory.mktemp("production")
    env = production_env(var_dir)
    for args in (
        ["migrate", "--noinput", "-v0"],
        ["createcachetable"],
        ["collectstatic", "--noinput", "-v0"],
    ):
        result = run(["manage.py", *args], env)
        assert result.returncode == 0, result.stderr
    return var_dir
