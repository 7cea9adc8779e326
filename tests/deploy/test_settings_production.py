"""Production settings: the deploy checklist passes, the app refuses to start half-configured,
browsers get HTTPS-only cookies and HSTS, and the embedded SQLite survives web and worker writing at once."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.deploy.conftest import PROBE, production_env, run


def test_check_deploy_reports_no_issues_with_production_variables(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_without_hsts_preload_the_only_deploy_warning_is_the_preload_reminder(tmp_path):
    env = production_env(tmp_path, SECURE_HSTS_PRELOAD="False")

    result = run(["manage.py", "check", "--deploy"], env)

    assert result.returncode == 0
    assert "security.W021" in result.stderr + result.stdout
    assert "identified 1 issue" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set when DEBUG=False"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must be set when DEBUG=False"),
    ],
)
def test_the_app_refuses_to_start_in_production_without(missing, message, tmp_path):
    env = production_env(tmp_path, **{missing: None})

    web = run(["-c", "import digest_site.wsgi"], env)
    worker = run(["-m", "celery", "-A", "digest_site", "inspect", "ping", "--timeout", "0.1"], env)

    assert web.returncode != 0 and message in web.stderr
    assert worker.returncode != 0 and message in worker.stderr


def test_the_app_refuses_to_start_in_production_with_the_development_key(tmp_path):
    env = production_env(tmp_path, SECRET_KEY="dev-only-insecure-key-never-use-in-production")

    web = run(["-c", "import digest_site.wsgi"], env)

    assert web.returncode != 0
    assert "SECRET_KEY is a public development key" in web.stderr


def test_debug_is_off_when_not_set(tmp_path):
    env = production_env(tmp_path, DEBUG=None)
    show = "from digest_site import settings; print(settings.DEBUG)"

    unset = run(["-c", show], env)
    without_key = run(["-c", show], production_env(tmp_path, DEBUG=None, SECRET_KEY=None))

    assert unset.returncode == 0, unset.stderr
    assert unset.stdout.strip() == "False"
    assert without_key.returncode != 0
    assert "SECRET_KEY must be set when DEBUG=False" in without_key.stderr


def test_production_serves_https_only_with_secure_cookies_and_hsts(production_site):
    result = run([str(PROBE), "responses"], production_env(production_site))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])

    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://news.digest-lab.net/admin/login/"
    assert seen["plain_healthz_status"] == 200  # load balancers probe over plain HTTP
    assert seen["login_page_status"] == 200
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert "; Secure" in seen["csrf_cookie"]
    assert seen["login_status"] == 302
    assert "; Secure" in seen["session_cookie"] and "HttpOnly" in seen["session_cookie"]


def test_whitenoise_serves_the_hashed_stylesheet_in_production(production_site):
    result = run([str(PROBE), "responses"], production_env(production_site))
    seen = json.loads(result.stdout.splitlines()[-1])

    assert seen["stylesheet"].startswith("/static/site.") and seen["stylesheet"] != "/static/site.css"
    assert seen["stylesheet_status"] == 200


def test_hsts_lifetime_and_subdomains_are_configurable(production_site):
    env = production_env(
        production_site,
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="False",
        SECURE_HSTS_PRELOAD="False",
    )

    seen = json.loads(run([str(PROBE), "responses"], env).stdout.splitlines()[-1])

    assert seen["hsts"] == "max-age=600"


def test_embedded_sqlite_runs_in_wal_mode_with_a_busy_timeout(production_site):
    result = run([str(PROBE), "pragmas"], production_env(production_site, DEBUG="True"))

    assert json.loads(result.stdout.splitlines()[-1]) == {"journal_mode": "wal", "busy_timeout_ms": 30000}
    # WAL is stored in the file itself: any other process opening it (a worker) uses it too.
    with sqlite3.connect(production_site / "db.sqlite3") as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_web_and_worker_writing_at_once_never_hit_database_is_locked(production_site):
    env = production_env(production_site, DEBUG="True", START_AT=str(time.time() + 3))
    processes = [
        subprocess.Popen(
            [sys.executable, str(PROBE), "write", role, "300"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("web", "worker")
    ]
    outputs = [process.communicate(timeout=180) for process in processes]

    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert "database is locked" not in stderr
        assert process.returncode == 0, stderr
    counts = run(
        ["manage.py", "shell", "-c", "from newsletters.models import Tag; print(Tag.objects.count())"], env
    )
    assert counts.stdout.strip().splitlines()[-1] == "600"
