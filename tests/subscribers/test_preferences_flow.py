"""The preference centre at a signed personal link: tags, language, leaving and coming back."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from subscribers import links
from subscribers.models import Subscriber
from tests.factories import make_tag
from tests.subscribers.helpers import link_in, make_subscriber

pytestmark = pytest.mark.django_db


def preferences_path(subscriber: Subscriber) -> str:
    return urlsplit(links.preferences_url(subscriber)).path


def test_the_preference_centre_shows_the_current_choices(alice, client):
    make_tag("vision", name="Computer vision")
    page = client.get(preferences_path(alice)).content.decode()
    assert "The digest goes to alice@example.com." in page
    assert 'value="rl" checked' in page and 'value="reasoning" checked' in page
    assert 'value="vision">' in page and "Computer vision" in page
    assert re.search(r'value="en"[^>]*checked', page) and not re.search(r'value="ko"[^>]*checked', page)


def test_a_reader_changes_tags_and_language(alice, client):
    make_tag("vision")
    response = client.post(preferences_path(alice), {"action": "save", "tags": ["vision"], "language": "ko"})
    assert response.status_code == 302
    assert "Your choices are saved." in client.get(response["Location"]).content.decode()
    alice.refresh_from_db()
    assert alice.language == "ko" and alice.chosen_tag_slugs() == ["vision"]
    assert alice.state == "active"


def test_clearing_every_tag_means_every_tag(alice, client):
    client.post(preferences_path(alice), {"action": "save", "language": "both"})
    alice.refresh_from_db()
    assert alice.wants_every_tag() and alice.language == "both"


def test_saving_needs_the_pages_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(preferences_path(alice), {"action": "unsubscribe"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.state == "active"


def test_opening_the_preference_centre_changes_nothing(alice, client):
    client.get(preferences_path(alice) + "?action=unsubscribe")
    alice.refresh_from_db()
    assert alice.state == "active"


@pytest.mark.usefixtures("celery_eager")
def test_a_reader_unsubscribes_and_comes_back_only_through_a_fresh_confirmation(
    alice, client, smtp_sink, django_capture_on_commit_callbacks
):
    response = client.post(preferences_path(alice), {"action": "unsubscribe"}, follow=True)
    assert "alice@example.com is unsubscribed." in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(preferences_path(alice), {"action": "resubscribe"}, follow=True)
    assert "We have emailed you a confirmation link" in response.content.decode()
    alice.refresh_from_db()
    assert alice.state == "unsubscribed"  # the preference link alone is not consent today
    [message] = smtp_sink.to("alice@example.com")
    client.post(link_in(message, "/subscribe/confirm/"))
    alice.refresh_from_db()
    assert alice.state == "active"
    assert [e.source for e in alice.events.all()][-2:] == ["preferences", "confirm-link"]


@pytest.mark.usefixtures("celery_eager")
def test_a_bounced_reader_must_confirm_by_email_to_come_back(
    client, smtp_sink, django_capture_on_commit_callbacks
):
    dan = make_subscriber("dan@example.com", Subscriber.Status.BOUNCED)
    page = client.get(preferences_path(dan)).content.decode()
    assert "could not be delivered" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(preferences_path(dan), {"action": "resubscribe"}, follow=True)
    assert "We have emailed you a confirmation link" in response.content.decode()
    dan.refresh_from_db()
    assert dan.state == "bounced"
    [message] = smtp_sink.to("dan@example.com")
    client.post(link_in(message, "/subscribe/confirm/"))
    dan.refresh_from_db()
    assert dan.state == "active"


def test_a_bad_preferences_link_shows_a_clear_page(alice, client):
    response = client.get(preferences_path(alice)[:-4] + "zz/")
    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    response = client.post(preferences_path(alice)[:-4] + "zz/", {"action": "unsubscribe"})
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.state == "active"


def test_abstracts_are_included_until_a_reader_turns_them_off_and_back_on(alice, client):
    path = preferences_path(alice)
    assert alice.include_abstracts is True
    page = client.get(path).content.decode()
    assert re.search(r'<input type="checkbox" name="include_abstracts"[^>]*checked', page)
    assert "Include abstracts" in page

    # An unticked box is absent from the POST: that is the reader turning abstracts off.
    client.post(path, {"action": "save", "tags": ["rl"], "language": "en"})
    alice.refresh_from_db()
    assert alice.include_abstracts is False
    page = client.get(path).content.decode()
    assert not re.search(r'<input type="checkbox" name="include_abstracts"[^>]*checked', page)

    client.post(path, {"action": "save", "tags": ["rl"], "language": "en", "include_abstracts": "on"})
    alice.refresh_from_db()
    assert alice.include_abstracts is True and alice.chosen_tag_slugs() == ["rl"]


def test_the_abstracts_choice_reads_in_korean(alice):
    page = Client(HTTP_ACCEPT_LANGUAGE="ko").get(preferences_path(alice)).content.decode()

    assert "초록 포함" in page and "나머지는 링크로 이어집니다" in page


def test_subscribing_again_never_turns_abstracts_off(alice, client, django_capture_on_commit_callbacks):
    """The subscribe form has no abstracts box: a missing box there is not a choice."""
    alice.set_preferences(language="en", tags=[], include_abstracts=True)
    bob = Subscriber.objects.create(email="bob@example.com", state=Subscriber.Status.PENDING)
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/subscribe/", {"email": "bob@example.com", "language": "ko"})
        client.post("/subscribe/", {"email": "alice@example.com", "language": "ko"})

    assert 'name="include_abstracts"' not in client.get("/subscribe/").content.decode()
    bob.refresh_from_db()
    alice.refresh_from_db()
    assert bob.language == "ko" and bob.include_abstracts is True
    assert alice.include_abstracts is True
