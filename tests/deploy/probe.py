"""Run in a subprocess by the deploy tests, so settings are read from a production-like environment.

python tests/deploy/probe.py responses       # JSON: what a browser sees from a few requests
python tests/deploy/probe.py pragmas         # JSON: the SQLite connection's journal mode and busy timeout
python tests/deploy/probe.py write web 300   # 300 short write transactions, like requests
python tests/deploy/probe.py write worker 300  # ... like a worker: read first, then write
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from newsletters.models import Tag  # noqa: E402


def responses() -> dict:
    """Status, headers and cookies of plain-HTTP and HTTPS requests to the production site."""
    host = os.environ["ALLOWED_HOSTS"].split(",")[0]
    if not get_user_model().objects.filter(username="editor").exists():
        get_user_model().objects.create_superuser("editor", "editor@example.org", "a-long-test-password")
    client = Client(HTTP_HOST=host)
    plain = client.get("/admin/login/")
    plain_health = client.get("/healthz")
    login_page = client.get("/admin/login/", secure=True)
    login = client.post(
        "/admin/login/",
        {"username": "editor", "password": "a-long-test-password", "next": "/admin/"},
        secure=True,
    )
    home = client.get("/", secure=True)
    stylesheet = next(
        (word.split('"')[1] for word in home.text.split() if word.startswith('href="/static/')), ""
    )
    static = client.get(stylesheet, secure=True) if stylesheet else None
    return {
        "plain_status": plain.status_code,
        "plain_location": plain.get("Location", ""),
        "plain_healthz_status": plain_health.status_code,
        "login_page_status": login_page.status_code,
        "hsts": login_page.get("Strict-Transport-Security", ""),
        "csrf_cookie": login_page.cookies["csrftoken"].output() if "csrftoken" in login_page.cookies else "",
        "login_status": login.status_code,
        "session_cookie": login.cookies["sessionid"].output() if "sessionid" in login.cookies else "",
        "stylesheet": stylesheet,
        "stylesheet_status": static.status_code if static else None,
    }


def pragmas() -> dict:
    """What the default SQLite connection was opened with."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal_mode = cursor.fetchone()[0]
        cursor.execute("PRAGMA busy_timeout")
        busy_timeout = cursor.fetchone()[0]
    return {"journal_mode": journal_mode, "busy_timeout_ms": busy_timeout}


def write(role: str, count: int) -> dict:
    """Short write transactions from the same starting moment as the other process."""
    start_at = float(os.environ.get("START_AT", "0"))
    time.sleep(max(0.0, start_at - time.time()))
    for i in range(count):
        with transaction.atomic():
            if role == "web":
                # A request: look something up, then store what the reader sent.
                if not Tag.objects.filter(slug=f"web-{i}").exists():
                    Tag.objects.create(slug=f"web-{i}", name=f"Web {i}")
            else:
                # A worker: read the state, then record progress on many rows and add one.
                seen = Tag.objects.count()
                Tag.objects.filter(slug__startswith="web-").update(description=f"seen {seen}")
                Tag.objects.create(slug=f"worker-{i}", name=f"Worker {i}")
    return {"role": role, "written": count}


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "responses":
        result = responses()
    elif command == "pragmas":
        result = pragmas()
    else:
        result = write(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(result))
