"""A reader in headless Chromium: subscribe, confirm from the received email, change preferences."""

import pytest

from subscribers.models import Subscriber
from tests.factories import make_tag
from tests.subscribers.helpers import link_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_eager"),
]


def test_a_reader_subscribes_confirms_and_changes_preferences(
    live_server, page, smtp_sink, settings, artifacts_dir
):
    settings.SITE_URL = live_server.url
    make_tag("rl", name="Reinforcement learning", description="Agents that learn from reward.")
    make_tag("vision", name="Computer vision")

    page.goto(f"{live_server.url}/subscribe/")
    page.get_by_label("Email").fill("Reader@Example.com")
    page.get_by_label("Reinforcement learning").check()
    page.get_by_label("English", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    [message] = smtp_sink.to("reader@example.com")
    page.goto(live_server.url + link_in(message, "/subscribe/confirm/"))
    page.get_by_role("heading", name="Confirm your subscription").wait_for()
    assert Subscriber.objects.get().state == "pending"
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_text("your subscription is confirmed").wait_for()
    reader = Subscriber.objects.get()
    assert (reader.state, reader.language, reader.chosen_tag_slugs()) == ("active", "en", ["rl"])

    page.get_by_label("Reinforcement learning").uncheck()
    page.get_by_label("Computer vision").check()
    page.get_by_label("Korean", exact=True).check()
    page.get_by_role("button", name="Save my choices").click()
    page.get_by_text("Your choices are saved.").wait_for()
    page.screenshot(path=str(artifacts_dir / "subscriber-preferences.png"), full_page=True)
    reader.refresh_from_db()
    assert (reader.state, reader.language, reader.chosen_tag_slugs()) == ("active", "ko", ["vision"])

    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_text("reader@example.com is unsubscribed.").wait_for()
    reader.refresh_from_db()
    assert reader.state == "unsubscribed"
