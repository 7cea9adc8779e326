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
