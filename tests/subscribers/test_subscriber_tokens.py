import datetime
from urllib.parse import unquote, urlsplit

import pytest
import time_machine
from django.utils import timezone

from subscribers import links, tokens


def test_a_token_names_its_subscriber_for_its_purpose_only():
    token = tokens.make_token(42, tokens.UNSUBSCRIBE)
    assert tokens.read_token(token, tokens.UNSUBSCRIBE) == 42
    with pytest.raises(tokens.BadToken):
        tokens.read_token(token, tokens.PREFERENCES)
    with pytest.raises(tokens.BadToken):
        tokens.read_token(token, tokens.CONFIRM)


def test_a_tampered_token_is_refused():
    token = tokens.make_token(42, tokens.UNSUBSCRIBE)
    other = tokens.make_token(43, tokens.UNSUBSCRIBE)
    # Another subscriber's id with this token's signature:
    forged = other.split(":")[0] + ":" + token.split(":", 1)[1]
    for bad in (forged, token[:-1], token + "x", "", "garbage", "1:2:3"):
        with pytest.raises(tokens.BadToken):
            tokens.read_token(bad, tokens.UNSUBSCRIBE)


def test_confirm_tokens_expire_after_seven_days():
    with time_machine.travel(timezone.now() - datetime.timedelta(days=7, minutes=1)):
        old = tokens.make_token(1, tokens.CONFIRM)
    with time_machine.travel(timezone.now() - datetime.timedelta(days=6, hours=23)):
        recent = tokens.make_token(1, tokens.CONFIRM)
    with pytest.raises(tokens.ExpiredToken):
        tokens.read_token(old, tokens.CONFIRM)
    assert tokens.read_token(recent, tokens.CONFIRM) == 1


def test_unsubscribe_and_preference_tokens_still_work_after_a_year():
    with time_machine.travel(timezone.now() - datetime.timedelta(days=365)):
        unsubscribe = tokens.make_token(1, tokens.UNSUBSCRIBE)
        preferences = tokens.make_token(1, tokens.PREFERENCES)
    assert tokens.read_token(unsubscribe, tokens.UNSUBSCRIBE) == 1
    assert tokens.read_token(preferences, tokens.PREFERENCES) == 1


def test_tokens_survive_a_secret_key_rotation(settings):
    settings.SECRET_KEY = "the-old-key-" + "x" * 40
    token = tokens.make_token(7, tokens.UNSUBSCRIBE)
    settings.SECRET_KEY = "the-new-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["the-old-key-" + "x" * 40]
    assert tokens.read_token(token, tokens.UNSUBSCRIBE) == 7
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(tokens.BadToken):
        tokens.read_token(token, tokens.UNSUBSCRIBE)


@pytest.mark.django_db
def test_links_are_absolute_and_never_show_the_address(alice, settings, django_assert_num_queries):
    settings.SITE_URL = "https://digest.example.org"
    with django_assert_num_queries(0):
        urls = [links.preferences_url(alice), links.unsubscribe_url(alice), links.unsubscribe_mailto(alice)]
    assert urls[0].startswith("https://digest.example.org/preferences/")
    assert urls[1].startswith("https://digest.example.org/unsubscribe/")
    for url in urls:
        assert "alice" not in unquote(url) and "example.com" not in unquote(url)


@pytest.mark.django_db
def test_the_mailto_link_carries_the_unsubscribe_token_in_its_subject(alice, settings):
    settings.UNSUBSCRIBE_MAILTO = "leave@digest.example.org"
    mailto = links.unsubscribe_mailto(alice)
    assert mailto.startswith("mailto:leave@digest.example.org?subject=unsubscribe%20")
    token = unquote(mailto.split("%20", 1)[1])
    assert tokens.read_token(token, tokens.UNSUBSCRIBE) == alice.pk


@pytest.mark.django_db
def test_the_unsubscribe_link_is_the_same_url_for_page_and_one_click(alice):
    path = urlsplit(links.unsubscribe_url(alice)).path
    assert path.startswith("/unsubscribe/") and path.endswith("/")
