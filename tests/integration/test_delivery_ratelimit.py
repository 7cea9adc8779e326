"""DELIVERY_RATE_LIMIT holds across worker processes together, in Redis and in the database.

Three separate Python processes (as three workers would) take messages from the shared budget
as fast as they can for a few seconds; together they get the rate, not three times it.
"""

import json
import math
import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from tests.conftest import REPO_ROOT, missing_service

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RATE = 20  # messages per second, all processes together
SECONDS = 3
PROCESSES = 3

# Each process says when Django is up, is then given a common start time (so a slow start on
# a loaded machine cannot eat into the measured window), takes messages until the end time and
# prints how many it got.
SENDER = """
import json, os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
django.setup()
from newsletters.delivery import ratelimit
print("ready", flush=True)
start, end, rate = map(float, sys.stdin.readline().split())
while time.time() < start:
    time.sleep(0.005)
got = 0
while True:
    ratelimit.acquire(rate=rate)
    if time.time() >= end:
        break
    got += 1
print(json.dumps({"got": got}))
"""


def database_url(settings) -> str:
    if connection.vendor != "postgresql":
        missing_service("needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/digest")
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        missing_service("set TEST_REDIS_URL=redis://127.0.0.1:6379/15 for the delivery integration tests")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        missing_service(f"Redis is not reachable at {url}: {exc}")
    return url


def run_senders(env: dict[str, str]) -> int:
    senders = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for sender in senders:
        assert sender.stdout.readline().strip() == "ready"
    start = time.time() + 0.5
    outputs = [sender.communicate(f"{start} {start + SECONDS} {RATE}\n", timeout=60)[0] for sender in senders]
    assert all(sender.returncode == 0 for sender in senders)
    return sum(json.loads(output)["got"] for output in outputs)


@pytest.mark.parametrize("budget", ["redis", "database"])
def test_workers_together_stay_under_the_rate_limit(budget, settings):
    env = {**os.environ, "DATABASE_URL": database_url(settings), "LOG_LEVEL": "WARNING"}
    env["CELERY_BROKER_URL"] = redis_url() if budget == "redis" else "memory://"

    got = run_senders(env)

    # Fixed windows of a second: a run of SECONDS touches at most SECONDS + 1 of them. Without a
    # shared budget each process alone would get RATE * SECONDS.
    assert got <= RATE * (math.ceil(SECONDS) + 1)
    assert got >= RATE * (SECONDS - 1)  # and the budget is used, not starved
