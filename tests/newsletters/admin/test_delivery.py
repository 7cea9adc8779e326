"""The digest's delivery page in the admin: variants, previews, actions and their permission."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from newsletters import tasks
from newsletters.mail.smtpsink import ScriptedHandler, start_sink
from newsletters.models import Delivery, Digest
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    """The admin follows LANGUAGE_CODE (Korean by default); these tests read English text."""
    settings.LANGUAGE_CODE = "en"


def make_editor(*, can_send: bool) -> User:
    user = User.objects.create_user("editor", "editor@example.com", "pw", is_staff=True)
    codenames = ["view_digest", "change_digest"] + (["send_digest"] if can_send else [])
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_the_delivery_page_lists_variants_with_reader_counts_and_previews(client):
    digest, ids = make_sendable_digest()
    make_reader("a@example.com", language="ko", tags=("nlp",))
    make_reader("b@example.com", language="ko", tags=("nlp",))
    make_reader("c@example.com", tags=("robotics",))
    client.force_login(make_editor(can_send=False))

    page = client.get(reverse("admin:newsletters_digest_delivery", args=[digest.pk])).content.decode()

    assert "2 readers in 1 variants; 1 readers match no entry" in page
    assert "Language paper" in page and "Send now" not in page
    assert "Can send digests" in page
    preview = client.get(
        reverse("admin:newsletters_digest_variant_preview", args=[digest.pk]),
        {"language": "ko", "entries": str(ids["nlp"])},
    )
    html = preview.content.decode()
    assert preview.status_code == 200 and "Language paper" in html and "Reinforcement paper" not in html


def test_sending_needs_the_send_permission(client):
    digest, _ = make_sendable_digest()
    client.force_login(make_editor(can_send=False))

    response = client.post(reverse("admin:newsletters_digest_delivery_action", args=[digest.pk, "send-now"]))

    assert response.status_code == 403
    assert Digest.objects.get().status == Digest.Status.DRAFT


def test_send_now_starts_the_send_through_a_task(client, monkeypatch):
    digest, _ = make_sendable_digest()
    started = []
    monkeypatch.setattr(tasks.start_send, "delay", lambda digest_id: started.append(digest_id))
    client.force_login(make_editor(can_send=True))

    response = client.post(reverse("admin:newsletters_digest_delivery_action", args=[digest.pk, "send-now"]))

    assert response.status_code == 302 and started == [digest.pk]


def test_schedule_and_cancel_from_the_page(client):
    digest, _ = make_sendable_digest()
    client.force_login(make_editor(can_send=True))
    url = reverse("admin:newsletters_digest_delivery_action", args=[digest.pk, "schedule"])

    client.post(url, {"at": "2025-07-10T06:30"})
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SCHEDULED
    assert digest.scheduled_at.isoformat() == "2025-07-09T21:30:00+00:00"

    client.post(reverse("admin:newsletters_digest_delivery_action", args=[digest.pk, "cancel"]))
    digest.refresh_from_db()
    assert digest.status == Digest.Status.CANCELLED


def test_an_editor_can_send_a_test_of_a_variant_to_themselves(client, settings):
    handler = ScriptedHandler()
    controller = start_sink(handler)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    try:
        digest, ids = make_sendable_digest()
        client.force_login(make_editor(can_send=True))
        client.post(
            reverse("admin:newsletters_digest_delivery_action", args=[digest.pk, "test-send"]),
            {"language": "en", "entries": f"{ids['rl']},{ids['nlp']}"},
        )
    finally:
        controller.stop()

    [message] = handler.received
    assert message.recipient == "editor@example.com"
    assert b"Reinforcement paper" in message.data and b"Vision paper" not in message.data
    assert not Delivery.objects.exists()


def test_progress_endpoint_returns_counts(client):
    digest, _ = make_sendable_digest()
    client.force_login(make_editor(can_send=False))

    data = client.get(reverse("admin:newsletters_digest_delivery_progress", args=[digest.pk])).json()

    assert data["counts"] == {"queued": 0, "sending": 0, "sent": 0, "failed": 0, "skipped": 0}
    assert data["status"] == "draft"
