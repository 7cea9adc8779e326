"""Unsubscribing: the page with a button, and the RFC 8058 one-click POST from mail clients."""

import base64
import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from subscribers import links, tokens
from subscribers.inbound_mail import unsubscribe_from_subject
from subscribers.models import Subscriber

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"


def unsubscribe_path(subscriber: Subscriber) -> str:
    return urlsplit(links.unsubscribe_url(subscriber)).path


def state_of(subscriber: Subscriber) -> str:
    subscriber.refresh_from_db()
    return subscriber.state


def one_click(path: str):
    """A mail client's one-click POST: no cookies, no CSRF token, the RFC 8058 body."""
    mail_client = Client(enforce_csrf_checks=True)
    return mail_client.post(path, ONE_CLICK, content_type="application/x-www-form-urlencoded")


def test_opening_the_unsubscribe_link_only_shows_a_button(alice, client):
    for method in (client.get, client.head):
        response = method(unsubscribe_path(alice))
        assert response.status_code == 200
    assert (
        '<button type="submit">Unsubscribe</button>' in client.get(unsubscribe_path(alice)).content.decode()
    )
    assert state_of(alice) == "active"


def test_pressing_the_button_unsubscribes(alice, client):
    response = client.post(unsubscribe_path(alice))
    assert response.status_code == 200
    page = response.content.decode()
    assert "You are unsubscribed" in page
    assert urlsplit(links.preferences_url(alice)).path in page
    assert state_of(alice) == "unsubscribed"
    assert alice.events.last().source == "unsubscribe-link"


def test_one_click_post_unsubscribes_without_cookies_or_csrf_token(alice):
    response = one_click(unsubscribe_path(alice))
    assert response.status_code == 200
    assert not response.has_header("Location")
    assert state_of(alice) == "unsubscribed"
    assert alice.events.last().source == "one-click"


def test_one_click_also_accepts_a_multipart_body(alice):
    response = Client(enforce_csrf_checks=True).post(
        unsubscribe_path(alice), {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert state_of(alice) == "unsubscribed"


def test_one_click_is_idempotent(alice):
    path = unsubscribe_path(alice)
    assert [one_click(path).status_code for _ in range(3)] == [200, 200, 200]
    assert alice.events.filter(to_state="unsubscribed").count() == 1


def test_one_click_keeps_a_suppressed_reader_suppressed(alice):
    alice.suppress("complained", source="esp")
    assert one_click(unsubscribe_path(alice)).status_code == 200
    assert state_of(alice) == "complained"


def test_an_unsubscribe_link_still_works_after_sixty_days(alice):
    with time_machine.travel(timezone.now() - datetime.timedelta(days=61)):
        path = unsubscribe_path(alice)
    assert one_click(path).status_code == 200
    assert state_of(alice) == "unsubscribed"


def test_an_unsubscribe_link_survives_a_secret_key_rotation(alice, settings):
    settings.SECRET_KEY = "old-" + "k" * 50
    path = unsubscribe_path(alice)
    settings.SECRET_KEY = "new-" + "n" * 50
    settings.SECRET_KEY_FALLBACKS = ["old-" + "k" * 50]
    assert one_click(path).status_code == 200
    assert state_of(alice) == "unsubscribed"


def test_a_tampered_unsubscribe_link_shows_a_clear_page_and_changes_nothing(alice, client):
    path = unsubscribe_path(alice)
    for bad in (path[:-3] + "xx/", "/unsubscribe/garbage/"):
        assert one_click(bad).status_code == 400
        response = client.get(bad)
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert state_of(alice) == "active"


def test_an_unsubscribe_link_for_one_reader_never_unsubscribes_another(alice, bob):
    alice_token = tokens.make_token(alice.pk, tokens.UNSUBSCRIBE)
    bob_token = tokens.make_token(bob.pk, tokens.UNSUBSCRIBE)
    forged = alice_token.split(":")[0] + ":" + bob_token.split(":", 1)[1]
    assert one_click(f"/unsubscribe/{forged}/").status_code == 400
    preferences_token = tokens.make_token(alice.pk, tokens.PREFERENCES)
    assert one_click(f"/unsubscribe/{preferences_token}/").status_code == 400
    assert one_click(f"/unsubscribe/{bob_token}/").status_code == 200
    assert state_of(alice) == "active"
    assert state_of(bob) == "unsubscribed"


def test_an_email_to_the_mailto_address_unsubscribes_by_its_subject(alice, bob):
    subject = "unsubscribe " + links.unsubscribe_mailto(alice).split("%20", 1)[1].replace("%3A", ":")
    assert unsubscribe_from_subject("Re: " + subject)
    assert not unsubscribe_from_subject("unsubscribe not-a-token")
    assert not unsubscribe_from_subject("hello")
    assert state_of(alice) == "unsubscribed"
    assert state_of(bob) == "pending"


def test_a_mail_client_following_the_mailto_link_unsubscribes_through_the_inbound_webhook(
    alice, bob, client, settings
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "inbound:s3cret"}
    mailto = urlsplit(links.unsubscribe_mailto(alice))
    # What the reader's mail client sends, as the ESP (here Postmark) posts it to anymail.
    payload = {
        "FromFull": {"Email": "someone@example.net", "Name": "Someone"},
        "ToFull": [{"Email": mailto.path, "Name": ""}],
        "Subject": parse_qs(mailto.query)["subject"][0],
        "TextBody": "",
        "Headers": [],
        "Attachments": [],
    }
    auth = "Basic " + base64.b64encode(b"inbound:s3cret").decode()
    response = client.post(
        "/anymail/postmark/inbound/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200
    assert state_of(alice) == "unsubscribed"
    assert state_of(bob) == "pending"
    assert Subscriber.objects.get(pk=alice.pk).events.last().source == "mailto:postmark"
