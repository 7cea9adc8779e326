"""Confirmation mail and the digest run in separate queues; every worker takes both, transactional first."""

import os
import re

import pytest

from digest_site.celery import app
from tests.conftest import REPO_ROOT

ORDER = ["transactional", "celery", "digest"]


@pytest.mark.parametrize(
    "task, queue",
    [
        ("subscribers.tasks.send_confirmation", "transactional"),
        ("newsletters.tasks.start_send", "digest"),
        ("newsletters.tasks.plan_send", "digest"),
        ("newsletters.tasks.send_batch", "digest"),
        ("newsletters.tasks.sweep_deliveries", "celery"),
        ("newsletters.tasks.send_due_digests", "celery"),
        ("subscribers.tasks.purge_rate_limit_counters", "celery"),
    ],
)
def test_each_task_goes_to_its_queue(task, queue):
    app.loader.import_default_modules()
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_a_worker_started_without_queues_consumes_all_three_transactional_first():
    assert list(app.amqp.queues) == ORDER


def test_the_dev_and_docker_worker_commands_consume_every_queue_transactional_first():
    procfile = (REPO_ROOT / "Procfile.dev").read_text()
    worker = next(line for line in procfile.splitlines() if line.startswith("worker:"))
    assert re.search(r"--queues=(\S+)", worker).group(1).split(",") == ORDER
    mail = next(line for line in procfile.splitlines() if line.startswith("mailworker:"))
    assert "--queues=transactional" in mail
    entrypoint = (REPO_ROOT / "docker" / "entrypoint.sh").read_text()
    assert '--queues "${WORKER_QUEUES:-transactional,celery,digest}"' in entrypoint
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "WORKER_QUEUES: ${WORKER_QUEUES:-transactional,celery,digest}" in compose


def test_tasks_land_in_their_queue_on_the_embedded_broker(tmp_path):
    from newsletters import tasks as newsletter_tasks
    from subscribers import tasks as subscriber_tasks

    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder}
    with app.connection_for_write("filesystem://", transport_options=options) as connection:
        subscriber_tasks.send_confirmation.apply_async((1, "en"), connection=connection)
        newsletter_tasks.send_batch.apply_async(([1, 2],), connection=connection)
        newsletter_tasks.sweep_deliveries.apply_async((), connection=connection)

    queues = sorted(name.split(".")[-2] for name in os.listdir(folder) if name.endswith(".msg"))
    assert queues == ["celery", "digest", "transactional"]
