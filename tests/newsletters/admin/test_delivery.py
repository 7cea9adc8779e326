"""The digest's delivery page: who may do what (through HTTP), confirmation, previews, test sends."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from newsletters import tasks
from newsletters.management.commands.setup_demo import ensure_group
from newsletters.models import Delivery, Digest
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    """The admin follows LANGUAGE_CODE (Korean by default); these tests read English text."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch) -> list:
    planned: list[int] = []
    monkeypatch.setattr(tasks.plan_send, "delay", lambda digest_id: planned.append(digest_id))
    monkeypatch.setattr(tasks.send_batch, "delay", lambda ids: None)
    return planned


def login(client, role: str):
    if role == "anonymous":
        return None
    users = get_user_model()
    if role == "superuser":
        user = users.objects.create_superuser("root", "root@example.com", "pw")
    else:
        group = (
            ensure_group("Editors", send=False) if role == "editor" else ensure_group("Publishers", send=True)
        )
        user = users.objects.create_user(role, f"{role}@example.com", "pw", is_staff=True)
        user.groups.add(group)
    client.force_login(user)
    return user


def url(name: str, digest: Digest, *args) -> str:
    return reverse(f"admin:newsletters_digest_{name}", args=[digest.pk, *args])


def act(client, digest: Digest, action: str, **data):
    return client.post(url("delivery_action", digest, action), data)


def status_of(digest: Digest) -> str:
    return Digest.objects.get(pk=digest.pk).status


def set_status(digest: Digest, status: str, **fields) -> None:
    Digest.objects.filter(pk=digest.pk).update(status=status, **fields)


# What each role may do; every cell below is checked through HTTP in test_permission_matrix.
ROLES = ["anonymous", "editor", "publisher", "superuser"]
MATRIX = {
    "edit text": {"editor", "publisher", "superuser"},
    "preview": {"editor", "publisher", "superuser"},
    "test send": {"editor", "publisher", "superuser"},
    "test send to another address": {"publisher", "superuser"},
    "schedule": {"publisher", "superuser"},
    "send now": {"publisher", "superuser"},
    "cancel": {"publisher", "superuser"},
    "resume": {"publisher", "superuser"},
    "retry": {"publisher", "superuser"},
    "see addresses": {"superuser"},
    "export readers": {"superuser"},
}


def attempt(client, mailoutbox, settings, digest: Digest, what: str) -> bool:
    """Try one thing as the logged-in role; True if it happened."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    if what == "edit text":
        data = {
            "date": "2025-07-10",
            "date_format": "ko",
            "intro_ko": "",
            "intro_en": "Edited intro",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        }
        client.post(reverse("admin:newsletters_digest_change", args=[digest.pk]), data)
        return Digest.objects.get(pk=digest.pk).intro_en == "Edited intro"
    if what == "preview":
        response = client.get(url("variant_preview", digest), {"language": "en"})
        return response.status_code == 200 and b"Reinforcement paper" in response.content
    if what.startswith("test send"):
        to = "stranger@example.net" if "another" in what else ""
        client.post(url("test_send", digest), {"language": "en", "to": to})
        return any(message.subject.startswith("[TEST]") for message in mailoutbox)
    if what == "schedule":
        at = timezone.localtime(timezone.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        act(client, digest, "schedule", at=at)
        return status_of(digest) == "scheduled"
    if what == "send now":
        act(client, digest, "send-now", confirm="yes")
        return status_of(digest) == "sending"
    if what == "cancel":
        set_status(digest, "sending")
        act(client, digest, "cancel")
        return status_of(digest) == "paused"
    if what == "resume":
        set_status(digest, "paused", planned_at=timezone.now())
        act(client, digest, "resume")
        return status_of(digest) == "sending"
    if what == "retry":
        set_status(digest, "sent", planned_at=timezone.now())
        reader = make_reader("failed@example.com")
        Delivery.objects.create(digest=digest, subscriber=reader, status="failed", last_error="451")
        act(client, digest, "retry-failed")
        return Delivery.objects.get(subscriber=reader).status == "queued"
    if what == "see addresses":
        make_reader("secret@example.com")
        response = client.get(reverse("admin:subscribers_subscriber_changelist"))
        return response.status_code == 200 and b"secret@example.com" in response.content
    if what == "export readers":
        reader = make_reader("secret@example.com")
        response = client.post(
            reverse("admin:subscribers_subscriber_changelist"),
            {"action": "export_csv", "_selected_action": [reader.pk]},
        )
        return b"secret@example.com" in response.content
    raise AssertionError(what)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("what", list(MATRIX))
def test_permission_matrix(client, mailoutbox, settings, role, what):
    digest, _ = make_sendable_digest()
    login(client, role)

    assert attempt(client, mailoutbox, settings, digest, what) == (role in MATRIX[what])


@pytest.mark.parametrize("role", ["editor", "publisher"])
def test_crafted_posts_to_the_change_form_never_move_a_digest(client, role):
    digest, _ = make_sendable_digest()
    login(client, role)
    data = {
        "date": "2025-07-10",
        "date_format": "ko",
        "intro_en": "Edited",
        "status": "sent",
        "scheduled_at_0": "2025-07-01",
        "scheduled_at_1": "07:00",
        "scheduled_at": "2025-07-01 07:00",
        "sent_at": "2025-07-01 07:00",
        "planned_at": "2025-07-01 07:00",
        "entries-TOTAL_FORMS": "0",
        "entries-INITIAL_FORMS": "0",
    }

    response = client.post(reverse("admin:newsletters_digest_change", args=[digest.pk]), data)

    assert response.status_code == 302
    digest.refresh_from_db()
    assert digest.intro_en == "Edited"
    assert (digest.status, digest.scheduled_at, digest.sent_at, digest.planned_at) == (
        "draft",
        None,
        None,
        None,
    )
    page = client.get(reverse("admin:newsletters_digest_change", args=[digest.pk])).content.decode()
    assert 'name="status"' not in page and 'name="scheduled_at' not in page
    assert "Asia/Seoul" in page


def test_an_editor_sees_no_send_buttons_and_a_crafted_post_is_refused(client):
    digest, _ = make_sendable_digest()
    login(client, "editor")

    page = client.get(url("delivery", digest)).content.decode()
    assert "Send now" not in page and "Can send digests" in page
    for action in ("send-now", "schedule", "cancel", "resume", "retry-failed"):
        assert act(client, digest, action, confirm="yes", at="2030-01-01T07:00").status_code == 403
    assert status_of(digest) == "draft"


def test_send_now_asks_first_showing_the_audience_and_the_checks(
    client, no_broker, django_capture_on_commit_callbacks
):
    digest, ids = make_sendable_digest()
    digest.entries.filter(pk=ids["vision"]).update(commentary_ko="")
    make_reader("a@example.com", language="ko", tags=("nlp",))
    make_reader("b@example.com", language="en")
    make_reader("c@example.com", language="both", tags=("rl",))
    make_reader("d@example.com", tags=("robotics",))
    login(client, "publisher")

    page = act(client, digest, "send-now").content.decode()

    assert "3 readers: 1 ko, 1 en, 1 both; 3 variants; 1 readers skipped, no matching tags." in page
    assert "“Vision paper” has no Korean commentary." in page
    assert status_of(digest) == "draft" and no_broker == []

    with django_capture_on_commit_callbacks(execute=True):
        response = act(client, digest, "send-now", confirm="yes")
    assert response.status_code == 302 and status_of(digest) == "sending"  # at once, before planning
    assert no_broker == [digest.pk]
    page = client.get(response.url).content.decode()
    assert 'data-status="sending"' in page and "Fixing the audience" in page
    # A double click (or a stale tab) starts nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        act(client, digest, "send-now", confirm="yes")
    assert no_broker == [digest.pk]


def test_the_send_page_shows_only_the_buttons_the_state_allows(client):
    digest, _ = make_sendable_digest()
    login(client, "publisher")

    def visible() -> set[str]:
        page = client.get(url("delivery", digest)).content.decode()
        return {
            action
            for action in ("send-now", "schedule", "cancel", "resume", "retry-failed")
            if f'data-action="{action}">' in page
        }

    assert visible() == {"send-now", "schedule"}
    set_status(digest, "sending", planned_at=timezone.now())
    assert visible() == {"cancel"}
    set_status(digest, "paused")
    assert visible() == {"resume"}
    set_status(digest, "sent")
    assert visible() == set()
    assert client.get(url("delivery_progress", digest)).json()["actions"] == []


def test_schedule_shows_the_time_zone_and_refuses_the_past_and_garbage(client):
    digest, _ = make_sendable_digest()
    login(client, "publisher")
    page = client.get(url("delivery", digest)).content.decode()
    assert "Asia/Seoul" in page

    for value, message in [
        ("2020-07-10T07:00", "is in the past; use Send now"),
        ("not-a-date", "Not a date and time"),
        ("2025-13-45T99:99", "Not a date and time"),
        ("9999-12-31T23:59+14:00", "more than a year ahead"),
        ("2030-01-01T07:00 Mars/Olympus", "Not a date and time"),
    ]:
        response = act(client, digest, "schedule", at=value)
        assert message in client.get(response.url).content.decode(), value
        assert status_of(digest) == "draft"

    response = act(client, digest, "schedule", at="2099-07-10T06:30")
    assert "more than a year ahead" in client.get(response.url).content.decode()
    next_year = timezone.localtime().year + 1
    response = act(client, digest, "schedule", at=f"{next_year}-01-02T06:30")
    digest.refresh_from_db()
    assert timezone.localtime(digest.scheduled_at).strftime("%H:%M") == "06:30"
    page = client.get(response.url).content.decode()
    assert f"Scheduled for {next_year}-01-02 06:30 (Asia/Seoul)" in page


def test_preview_any_reader_with_no_subscribers_and_send_it_as_a_test_anywhere(client, mailoutbox):
    digest, _ = make_sendable_digest()
    login(client, "publisher")

    html = client.get(url("variant_preview", digest), {"language": "ko", "tags": ["nlp"]}).content.decode()
    assert "Language paper" in html and "Reinforcement paper" not in html
    every = client.get(url("variant_preview", digest), {"language": "both"}).content.decode()
    assert "Language paper" in every and "Vision paper" in every
    nothing = client.get(url("variant_preview", digest), {"tags": ["robotics"]}).content.decode()
    assert "gets no email" in nothing

    client.post(url("test_send", digest), {"language": "both", "tags": ["rl"], "to": "friend@example.org"})

    [message] = mailoutbox
    assert message.to == ["friend@example.org"]
    assert message.subject.startswith("[TEST] [Research Digest] 7월 10일 · Jul 10: Reinforcement paper")
    assert "TEST SEND" in message.body and "Language paper" not in message.body
    assert not Delivery.objects.exists()


def test_progress_endpoint_returns_counts(client):
    digest, _ = make_sendable_digest()
    login(client, "editor")

    data = client.get(url("delivery_progress", digest)).json()

    assert data["counts"] == {"queued": 0, "sending": 0, "sent": 0, "failed": 0, "skipped": 0}
    assert data["status"] == "draft" and data["actions"] == []


def test_the_send_page_says_how_many_failures_retry_would_send_again_and_how_many_never(client):
    digest, _ = make_sendable_digest()
    set_status(digest, "sent", planned_at=timezone.now())
    rows = [
        ("busy@example.com", "active", "gave up after 5 attempts: RCPT 451 4.3.0 mailbox busy"),
        ("crash@example.com", "active", "gave up: the worker stopped during every attempt"),
        ("spam@example.com", "active", "DATA 554 5.7.1 message refused as spam"),
        ("unknown@example.com", "bounced", "RCPT 550 5.1.1 no such user"),
        ("leaver@example.com", "unsubscribed", "gave up after 5 attempts: RCPT 452 mailbox full"),
    ]
    for address, state, error in rows:
        reader = make_reader(address, state=state)
        Delivery.objects.create(digest=digest, subscriber=reader, status="failed", last_error=error)
    login(client, "publisher")

    page = client.get(url("delivery", digest)).content.decode()
    data = client.get(url("delivery_progress", digest)).json()

    assert '<span data-failures="transient">2</span> gave up after temporary errors' in page
    assert '<span data-failures="other">1</span> were refused as a message' in page
    assert '<span data-failures="reader">2</span> failed for the reader' in page
    assert data["failures"] == {"transient": 2, "other": 1, "reader": 2}
    assert data["actions"] == ["retry-failed"]
    act(client, digest, "retry-failed")
    assert dict(Delivery.objects.values_list("subscriber__email", "status")) == {
        "busy@example.com": "queued",
        "crash@example.com": "queued",
        "spam@example.com": "queued",
        "unknown@example.com": "failed",
        "leaver@example.com": "failed",
    }
    assert status_of(digest) == "sending"


def test_a_send_with_no_failures_shows_no_failure_line(client):
    digest, _ = make_sendable_digest()
    login(client, "publisher")
    assert 'id="failure-kinds" hidden' in client.get(url("delivery", digest)).content.decode()


def test_missed_digests_show_a_banner(client):
    digest, _ = make_sendable_digest()
    set_status(digest, "missed", status_note="not sent: 7.5 h late, past the lateness limit")
    login(client, "editor")

    for page in (reverse("admin:newsletters_digest_changelist"), url("delivery", digest)):
        assert "was not sent automatically (not sent: 7.5 h late" in client.get(page).content.decode()


def test_groups_exist_after_login_helper():
    ensure_group("Publishers", send=True)
    assert Group.objects.get(name="Publishers").permissions.filter(codename="send_digest").exists()


def test_the_send_page_shows_variants_without_abstracts_and_previews_them_so(client):
    digest, _ = make_sendable_digest()
    make_reader("with@example.com", language="en")
    without = make_reader("without@example.com", language="en")
    without.set_preferences(language="en", tags=[], include_abstracts=False)
    login(client, "publisher")

    page = client.get(url("delivery", digest)).content.decode()
    with_abstracts = client.get(url("variant_preview", digest), {"language": "en"}).content.decode()
    no_abstracts = client.get(
        url("variant_preview", digest), {"language": "en", "abstracts": "0"}
    ).content.decode()

    assert "2 readers in 2 variants" in page
    assert "en, no abstracts" in page and "abstracts=0" in page
    assert "We study things." in with_abstracts
    assert "We study things." not in no_abstracts and "Language paper" in no_abstracts
