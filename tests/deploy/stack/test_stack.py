"""docker-compose.yml runs for real: the image built from the Dockerfile, migrations, health,
a reader's sign-up, sends through the worker containers (one, two, one killed mid-send), beat's
scheduled send, and `docker-compose down -v` leaving nothing behind.

The tests run in file order on one stack (conftest.py): each is a step of a first deployment.
"""

import json
import re
import secrets
import time
from collections import defaultdict

import pytest

from tests.conftest import SAMPLE_CONTENT
from tests.deploy.stack import engine
from tests.deploy.stack.conftest import APP_IMAGE, HOST, PROJECT, link_in

pytestmark = pytest.mark.deploy_stack

READERS = 300
DAYS = {"one_worker": "2025-06-16", "two_workers": "2025-06-17", "killed": "2025-06-18", "beat": "2025-06-19"}
EDITOR = "editor"
# What a killed worker may have sent but not recorded: its pool processes (WORKER_CONCURRENCY in
# the override) times newsletters.delivery.sending.RECORD_EVERY.
IN_FLIGHT = 2 * 10
MESSAGE_ID = re.compile(r"<digest-(\d+)\.reader-(\d+)@")


def run_in_image(*command: str) -> str:
    return engine.docker("run", "--rm", "--network", "host", "--entrypoint", "", APP_IMAGE, *command).stdout


def deliveries(stack, digest_id: int) -> dict[str, list[str]]:
    """Recipient -> the Message-IDs the sink received for this digest."""
    copies = defaultdict(list)
    for recipient, message_id in stack.received().values():
        found = MESSAGE_ID.match(message_id)
        if found and int(found.group(1)) == digest_id:
            copies[recipient].append(message_id)
    return copies


def active_readers(stack) -> set[str]:
    code = (
        "import json; from subscribers.models import Subscriber; "
        "print(json.dumps(list(Subscriber.objects.filter(state='active').values_list('email', flat=True))))"
    )
    return set(json.loads(stack.shell(code)))


def digest_ids(stack) -> dict[str, int]:
    code = (
        "import json; from newsletters.models import Digest; "
        "print(json.dumps({str(d): pk for d, pk in Digest.objects.values_list('date', 'pk')}))"
    )
    return json.loads(stack.shell(code))


def digest_status(stack, date: str) -> str:
    code = f"from newsletters.models import Digest; print(Digest.objects.get(date='{date}').status)"
    return stack.shell(code).strip()


def batches_run(stack, container: str, since: str) -> int:
    """send_batch tasks a worker container finished since a time, from its own log."""
    logs = engine.docker("logs", "--since", since, container, check=True)
    return len(
        re.findall(r"Task newsletters\.tasks\.send_batch\[[^\]]+\] succeeded", logs.stdout + logs.stderr)
    )


def now_for_docker() -> str:
    return str(int(time.time()))


def test_the_image_runs_as_a_non_root_user_without_compilers_with_static_files_collected(stack):
    user = engine.docker("image", "inspect", "-f", "{{.Config.User}}", APP_IMAGE).stdout.strip()
    assert user == "app"
    assert run_in_image("id", "-u").strip() == "10001"
    assert run_in_image("sh", "-c", "command -v gcc cc c++ g++ make || true").strip() == ""
    manifest = json.loads(run_in_image("cat", "/app/staticfiles/staticfiles.json"))
    assert any(name.startswith("admin/") for name in manifest["paths"])
    print(f"\napp image: {stack.timings['app image size (MB)']:.0f} MB")


def test_migrations_ran_once_and_healthz_reports_database_broker_and_workers(stack):
    migrate = stack.containers("migrate", all=True)
    assert len(migrate) == 1
    state = engine.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", migrate[0]).stdout.split()
    assert state == ["exited", "0"]
    assert "[ ]" not in stack.manage("showmigrations", "--list")  # nothing left unapplied

    answers = [stack.healthz() for _ in range(4)]  # both gunicorn processes, each with its own cache

    status, body = answers[-1]
    print(f"\n/healthz: {json.dumps(body)}")
    assert [status for status, _ in answers] == [200] * 4, answers
    assert {name: body[name]["status"] for name in ("database", "broker", "workers")} == dict.fromkeys(
        ("database", "broker", "workers"), "ok"
    )
    assert body["database"]["detail"] == "postgresql" and body["broker"]["detail"] == "redis"
    for service in ("postgres", "redis", "web", "worker", "mail"):
        (container,) = stack.containers(service)
        health = engine.docker("inspect", "-f", "{{.State.Health.Status}}", container).stdout.strip()
        assert health in ("healthy", "starting"), (service, health)


def test_static_files_are_served_by_the_web_container(stack):
    page = stack.get("/")
    assert page.status_code == 200, page.text[:500]
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page.text)
    assert stylesheet, page.text[:2000]
    css = stack.get(stylesheet.group(1))
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]


def test_a_reader_subscribes_over_http_and_confirms_from_the_email_the_sink_received(stack):
    form = stack.get("/subscribe/")
    assert form.status_code == 200, form.text[:500]
    token = form.cookies.get("csrftoken") or re.search(
        r"csrftoken=([^;]+)", form.headers["Set-Cookie"]
    ).group(1)
    middleware_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    address = f"first.reader.{secrets.token_hex(3)}@{HOST}"
    origin = {
        "Origin": f"https://{HOST}",
        "Referer": f"https://{HOST}/subscribe/",
        "Cookie": f"csrftoken={token}",
    }

    sent = stack.post(
        "/subscribe/",
        data={"csrfmiddlewaretoken": middleware_token, "email": address, "language": "both", "website": ""},
        headers=origin,
    )

    assert sent.status_code == 302, sent.text[:1000]
    confirmation = stack.wait_for(
        "the confirmation email",
        lambda: stack.messages(to=address),
        timeout=60,
    )[0]
    link = link_in(confirmation, rf"https://{re.escape(HOST)}/subscribe/confirm/[^/\s]+/")
    path = link.removeprefix(f"https://{HOST}")
    page = stack.get(path, headers={"Cookie": f"csrftoken={token}"})
    assert page.status_code == 200 and address not in active_readers(stack)  # a GET never confirms
    confirmed = stack.post(
        path,
        data={"csrfmiddlewaretoken": middleware_token},
        headers={**origin, "Referer": f"https://{HOST}{path}"},
    )
    assert confirmed.status_code == 302, confirmed.text[:1000]
    assert address in active_readers(stack)


def test_an_editor_imports_the_days_and_schedules_one_for_beat(stack):
    stack.manage(
        "createsuperuser", "--noinput", "--username", EDITOR, "--email", f"editor@{HOST}",
        env={"DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16)},
    )  # fmt: skip
    files = [SAMPLE_CONTENT / f"digest-{date}.txt" for date in DAYS.values()]
    engine.docker("exec", "--user", "root", stack.web_container(), "mkdir", "-p", "/tmp/days")
    for path in files:
        engine.docker("cp", str(path), f"{stack.web_container()}:/tmp/days/{path.name}")

    imported = stack.manage("import_digest", *(f"/tmp/days/{path.name}" for path in files))

    assert all(date in imported for date in DAYS.values()), imported
    setup = f"""
import datetime
from django.contrib.auth import get_user_model
from django.utils import timezone
from newsletters.delivery import schedule
from newsletters.models import Digest
from subscribers.models import Subscriber
Subscriber.objects.bulk_create(
    Subscriber(email=f"reader{{i}}@{HOST}", language=("ko", "en", "both")[i % 3], state="active")
    for i in range({READERS})
)
# Beat's tick (every minute) starts it while the next tests send; checked at the end.
schedule.schedule_send(
    digest_id=Digest.objects.get(date="{DAYS["beat"]}").pk,
    user=get_user_model().objects.get(username="{EDITOR}"),
    at=timezone.now() + datetime.timedelta(seconds=5),
)
"""
    stack.shell(setup)
    assert set(digest_ids(stack)) == set(DAYS.values())
    assert len(active_readers(stack)) == READERS + 1
    assert digest_status(stack, DAYS["beat"]) in ("scheduled", "sending", "sent")


def test_a_send_reaches_every_reader_once_through_the_worker_container(stack):
    date = DAYS["one_worker"]
    started = time.monotonic()

    output = stack.manage("send_digest", date, "--user", EDITOR, "--wait")

    stack.timings["send to 301 readers, 1 worker (s)"] = time.monotonic() - started
    assert "sent" in output.splitlines()[-1], output[-500:]
    copies = deliveries(stack, digest_ids(stack)[date])
    assert set(copies) == active_readers(stack)
    assert {len(ids) for ids in copies.values()} == {1}
    print(f"\n{date}: {len(copies)} readers, {sum(map(len, copies.values()))} messages")


def test_two_worker_containers_share_a_send(stack):
    since = now_for_docker()
    stack.compose("up", "-d", "--no-build", "--no-deps", "--scale", "worker=2", "worker")
    workers = stack.containers("worker")
    assert len(workers) == 2
    stack.wait_for(
        "two workers in /healthz",
        lambda: stack.healthz()[1]["workers"]["detail"].startswith("2 "),
        timeout=60,
        every=2,
    )
    date = DAYS["two_workers"]

    stack.manage("send_digest", date, "--user", EDITOR, "--wait")

    copies = deliveries(stack, digest_ids(stack)[date])
    assert set(copies) == active_readers(stack)
    assert {len(ids) for ids in copies.values()} == {1}
    work = {container[:12]: batches_run(stack, container, since) for container in workers}
    print(f"\n{date}: {len(copies)} readers; send_batch tasks per worker container: {work}")
    assert all(count > 0 for count in work.values()), work


def test_a_worker_killed_mid_send_leaves_the_other_to_finish_with_every_reader_served(stack):
    date = DAYS["killed"]
    workers = stack.containers("worker")
    assert len(workers) == 2
    digest_id = digest_ids(stack)[date]

    stack.manage("send_digest", date, "--user", EDITOR)
    stack.wait_for(
        "the send to be under way", lambda: len(deliveries(stack, digest_id)) >= 60, timeout=60, every=0.1
    )
    engine.docker("kill", workers[0])
    killed_at = sum(map(len, deliveries(stack, digest_id).values()))
    stack.wait_for("the send to finish", lambda: digest_status(stack, date) == "sent", timeout=120, every=2)

    copies = deliveries(stack, digest_id)
    readers = active_readers(stack)
    assert killed_at < len(readers), "the send finished before the worker was killed"
    assert set(copies) == readers, f"missing: {sorted(readers - set(copies))[:5]}"
    extra = sum(len(ids) - 1 for ids in copies.values())
    assert extra <= IN_FLIGHT, extra
    assert all(len(set(ids)) == 1 for ids in copies.values())  # a repeat is the same message
    print(
        f"\n{date}: killed a worker after {killed_at} messages; {len(copies)} readers served, {extra} repeats"
    )


def test_beat_is_one_container_and_starts_the_scheduled_day(stack):
    assert len(stack.containers("beat")) == 1
    date = DAYS["beat"]

    stack.wait_for(
        "beat's scheduled send", lambda: digest_status(stack, date) == "sent", timeout=150, every=3
    )

    copies = deliveries(stack, digest_ids(stack)[date])
    assert set(copies) == active_readers(stack)
    assert all(len(set(ids)) == 1 for ids in copies.values())
    (beat,) = stack.containers("beat")
    assert "send_due_digests" in engine.docker("logs", beat).stderr


def test_compose_down_leaves_no_container_volume_or_network(stack):
    stack.compose("down", "-v", "--remove-orphans", "--timeout", "10")

    label = f"label=com.docker.compose.project={PROJECT}"
    for kind in ("container", "volume", "network"):
        listed = engine.docker(kind, "ls", *(["-a"] if kind == "container" else []), "-q", "--filter", label)
        assert listed.stdout.strip() == "", kind
    print(f"\nstack timings: {json.dumps({k: round(v, 1) for k, v in stack.timings.items()})}")
