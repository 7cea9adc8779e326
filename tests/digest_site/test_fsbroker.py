"""The embedded broker: processes starting at once all bind, and idle workers look again quickly."""

import json
import os
import subprocess
import sys
import time

from digest_site.fsbroker import EXCHANGES, seed_exchange_tables
from tests.conftest import REPO_ROOT

# A process as make run starts one: settings load (which prepares the broker folder), then it
# binds its queues the moment every other process is ready too.
BINDER = """
import os, sys, time
import django
django.setup()
from django.conf import settings
from kombu import Connection, Exchange, Queue
go = sys.argv[1]
open(go + "-ready-" + sys.argv[2], "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
with Connection("filesystem://", transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as conn:
    channel = conn.channel()
    for name in ("celery", "celery.pidbox", "celeryev"):
        Queue(f"{name}-{sys.argv[2]}", Exchange(name, "fanout" if "." in name or name == "celeryev"
              else "direct"), routing_key=name)(channel).declare()
"""


def test_processes_starting_at_once_on_a_fresh_broker_all_bind_their_queues(tmp_path):
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "digest_site.settings"}
    env.pop("CELERY_BROKER_URL", None)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BINDER, str(go), str(number)],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(6)
    ]
    # Every one has loaded its settings: release them together.
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go-ready-*"))) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    control = tmp_path / "var" / "broker" / "control"
    errors = [p.communicate(timeout=60)[1] for p in processes]

    assert [p.returncode for p in processes] == [0] * 6, "\n".join(errors)
    table = json.loads((control / "celery.exchange").read_text())
    assert sorted(queue for _, _, queue in table) == [f"celery-{n}" for n in range(6)]


def test_seeded_exchange_tables_are_empty_lists_and_existing_ones_keep_their_bindings(tmp_path):
    (tmp_path / "celery.exchange").write_text('[["celery", "", "digest"]]')

    seed_exchange_tables(tmp_path)
    seed_exchange_tables(tmp_path)  # every process does it at start

    assert json.loads((tmp_path / "celery.exchange").read_text()) == [["celery", "", "digest"]]
    for exchange in EXCHANGES[1:]:
        assert json.loads((tmp_path / f"{exchange}.exchange").read_text()) == []
    assert sorted(os.listdir(tmp_path)) == sorted(f"{name}.exchange" for name in EXCHANGES)


def settings_of(env: dict[str, str], expression: str, tmp_path) -> str:
    full = {**os.environ, "VAR_DIR": str(tmp_path), **env}
    full.pop("CELERY_BROKER_URL", None)
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=full, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_beat_looks_for_due_digests_every_few_seconds_by_default_and_as_configured(tmp_path):
    due = "settings.CELERY_BEAT_SCHEDULE['send-due-digests']['schedule']"
    assert float(settings_of({}, due, tmp_path)) <= 5
    assert settings_of({"DIGEST_DUE_CHECK_SECONDS": "30"}, due, tmp_path) == "30.0"


def test_an_idle_embedded_worker_looks_at_the_broker_again_within_a_tenth_of_a_second(tmp_path):
    polling = "settings.CELERY_BROKER_TRANSPORT_OPTIONS['polling_interval']"
    assert float(settings_of({}, polling, tmp_path)) <= 0.1
    assert settings_of({"CELERY_FILESYSTEM_POLLING_SECONDS": "0.5"}, polling, tmp_path) == "0.5"
