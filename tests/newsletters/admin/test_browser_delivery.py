"""The admin delivery page in a real browser: during a send its counts refresh by themselves."""

import pytest
from django.contrib.auth import get_user_model

from digest_site.celery import app as celery_app
from newsletters import tasks
from newsletters.mail.smtpsink import ScriptedHandler
from newsletters.models import Delivery
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest, send_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def sink_handler() -> ScriptedHandler:
    return ScriptedHandler(keep="none")


@pytest.fixture
def held_batches(monkeypatch) -> list[list[int]]:
    """ "Send now" starts the send in the web process; its batches wait here for the test to run them."""
    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.send_batch, "delay", lambda ids: batches.append(list(ids)))
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield batches
    celery_app.conf.task_always_eager = eager


def log_in(page, live_server) -> None:
    get_user_model().objects.create_superuser("editor", "editor@example.org", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def count(page, status: str) -> str:
    return page.locator(f'#delivery-progress [data-count="{status}"]').inner_text()


def test_the_delivery_page_shows_counts_changing_during_a_send_without_reloading(
    page, live_server, sink, settings, held_batches, artifacts_dir
):
    settings.DELIVERY_BATCH_SIZE = 2
    digest, _ = make_sendable_digest()
    for n in range(6):
        make_reader(f"reader{n}@example.com")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/delivery/")

    page.click('form[action$="/send-now/"] input[type=submit]')
    # First a confirmation: the audience, before anything is queued.
    assert "6 readers: 0 ko, 0 en, 6 both; 1 variants" in page.inner_text("#send-audience")
    assert held_batches == []
    page.click('form[action$="/send-now/"] input[type=submit]')
    page.wait_for_selector('#delivery-progress[data-status="sending"]')
    assert page.locator('form[data-action="cancel"]').is_visible()
    assert not page.locator('form[data-action="send-now"]').is_visible()
    assert count(page, "queued") == "6" and count(page, "sent") == "0"
    assert len(held_batches) == 3
    # A reload would lose this; the page must change in place.
    page.evaluate("window.stillTheSamePage = true")

    send_all(held_batches[:1])
    page.wait_for_function(
        """() => document.querySelector('#delivery-progress [data-count="sent"]').textContent === "2" """
    )
    assert count(page, "queued") == "4"
    assert page.locator('#delivery-progress [data-field="rate"]').inner_text() != "0.0/s"

    send_all(held_batches[1:])
    page.wait_for_function("() => document.getElementById('digest-status').textContent === 'sent'")
    # The buttons follow the state without a reload: nothing is left to cancel.
    assert not page.locator('form[data-action="cancel"]').is_visible()
    assert count(page, "sent") == "6" and count(page, "queued") == "0"
    assert page.evaluate("window.stillTheSamePage") is True
    assert sink.count == 6
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    page.screenshot(path=str(artifacts_dir / "admin-delivery-live.png"), full_page=True)


ACTION_FORMS = ("send-now", "schedule", "cancel", "resume", "retry-failed")


def visible_actions(page) -> list[str]:
    return [name for name in ACTION_FORMS if page.locator(f'form[data-action="{name}"]').is_visible()]


def test_pause_shows_the_counts_and_only_resume_and_resume_finishes_the_send(
    page, live_server, sink, settings, held_batches, artifacts_dir
):
    settings.DELIVERY_BATCH_SIZE = 2
    digest, _ = make_sendable_digest()
    for n in range(6):
        make_reader(f"reader{n}@example.com")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/delivery/")
    assert visible_actions(page) == ["send-now", "schedule"]

    page.click('form[action$="/send-now/"] input[type=submit]')
    page.click('form[action$="/send-now/"] input[type=submit]')  # "Yes, send to 6 readers now"
    page.wait_for_selector('#delivery-progress[data-status="sending"]')
    assert visible_actions(page) == ["cancel"]
    send_all(held_batches[:1])
    page.wait_for_function(
        """() => document.querySelector('#delivery-progress [data-count="sent"]').textContent === "2" """
    )

    page.click('form[data-action="cancel"] input[type=submit]')
    page.wait_for_selector('#delivery-progress[data-status="paused"]')
    assert page.inner_text("#digest-status") == "paused"
    assert "Paused: no new message goes out" in page.inner_text(".messagelist")
    assert count(page, "sent") == "2" and count(page, "queued") == "4"
    assert page.inner_text('#delivery-progress [data-field="eta"]') == "–"  # paused: not finishing
    assert visible_actions(page) == ["resume"]
    # The batches still on the broker run while paused: they claim nothing, nothing is sent.
    send_all(held_batches[1:])
    assert sink.count == 2
    page.reload()
    assert count(page, "sent") == "2" and count(page, "queued") == "4"
    assert visible_actions(page) == ["resume"]
    page.screenshot(path=str(artifacts_dir / "admin-delivery-paused.png"), full_page=True)

    before = len(held_batches)
    page.click('form[data-action="resume"] input[type=submit]')
    page.wait_for_selector('#delivery-progress[data-status="sending"]')
    assert "4 readers not yet sent to are queued again" in page.inner_text(".messagelist")
    assert visible_actions(page) == ["cancel"]
    page.evaluate("window.stillTheSamePage = true")
    send_all(held_batches[before:])
    page.wait_for_function("() => document.getElementById('digest-status').textContent === 'sent'")
    assert count(page, "sent") == "6" and count(page, "queued") == "0"
    assert visible_actions(page) == []
    assert page.evaluate("window.stillTheSamePage") is True
    assert sink.count == 6 and set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_double_click_on_resume_queues_the_rest_once(page, live_server, sink, settings, held_batches):
    settings.DELIVERY_BATCH_SIZE = 3
    digest, _ = make_sendable_digest()
    for n in range(6):
        make_reader(f"reader{n}@example.com")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/newsletters/digest/{digest.pk}/delivery/")
    page.click('form[action$="/send-now/"] input[type=submit]')
    page.click('form[action$="/send-now/"] input[type=submit]')
    page.wait_for_selector('#delivery-progress[data-status="sending"]')
    page.click('form[data-action="cancel"] input[type=submit]')
    page.wait_for_selector('#delivery-progress[data-status="paused"]')

    page.dblclick('form[data-action="resume"] input[type=submit]')
    page.wait_for_selector('#delivery-progress[data-status="sending"]')
    send_all(held_batches)  # the first enqueue's batches and the resume's: each row claimed once
    page.wait_for_function("() => document.getElementById('digest-status').textContent === 'sent'")
    assert sink.count == 6 and set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
