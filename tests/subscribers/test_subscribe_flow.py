"""Subscribing end to end: the form, a real confirmation email over SMTP, the confirm link."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from subscribers import links, tokens
from subscribers.models import Subscriber
from tests.factories import make_digest, make_entry, make_tag
from tests.subscribers.helpers import html_part, link_in, make_subscriber, text_part

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def subscribe(client, django_capture_on_commit_callbacks):
    def post(email: str, *, tags=(), language="en", ip="203.0.113.5", forwarded_for=None, **extra):
        data = {"email": email, "tags": list(tags), "language": language, **extra}
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscribe/", data, REMOTE_ADDR=ip, headers=headers)

    return post


def test_the_form_lists_each_tag_with_its_description_and_entry_count(client):
    make_tag("rl", name="Reinforcement learning", description="Agents that learn from reward.")
    digest = make_digest(status="sent")
    make_entry(tags=("rl",), digest=digest)
    make_entry(tags=("rl",), digest=digest)
    make_entry(tags=("rl",))  # not published: not counted
    page = client.get("/subscribe/").content.decode()
    assert "Reinforcement learning" in page
    assert "Agents that learn from reward." in page
    assert "2 entries" in page
    assert 'name="website"' in page


def test_a_new_reader_subscribes_confirms_by_email_and_is_active(client, subscribe, smtp_sink):
    make_tag("rl")
    make_tag("reasoning")
    response = subscribe("New.Reader@Example.com", tags=["rl"], language="en")
    assert response.status_code == 302 and response["Location"] == "/subscribe/check-inbox/"
    assert "Check your inbox" in client.get(response["Location"]).content.decode()

    reader = Subscriber.objects.get(email="new.reader@example.com")
    assert reader.state == "pending"
    [message] = smtp_sink.to("new.reader@example.com")
    assert message["Subject"] == "Confirm your subscription to Research Digest"
    confirm_path = link_in(message, "/subscribe/confirm/")
    assert confirm_path in html_part(message)
    assert "/preferences/" in text_part(message) and "/preferences/" in html_part(message)

    page = client.get(confirm_path)
    assert page.status_code == 200 and "Confirm subscription" in page.content.decode()
    assert client.head(confirm_path).status_code == 200
    reader.refresh_from_db()
    assert reader.state == "pending", "a GET (a mail scanner) must never confirm"

    response = client.post(confirm_path, follow=True)
    assert "your subscription is confirmed" in response.content.decode()
    reader.refresh_from_db()
    assert reader.state == "active"
    assert reader.language == "en" and reader.chosen_tag_slugs() == ["rl"]
    assert [(e.from_state, e.to_state) for e in reader.events.all()] == [
        ("", "pending"),
        ("pending", "active"),
    ]


def test_choosing_no_tags_means_every_tag(subscribe, smtp_sink):
    subscribe("all@example.com", tags=[])
    assert Subscriber.objects.get(email="all@example.com").wants_every_tag()


def without_csrf_tokens(html: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", html)


def test_the_form_answers_new_subscribed_and_suppressed_addresses_alike(
    alice, carol, subscribe, smtp_sink, client
):
    make_subscriber("dan@example.com", Subscriber.Status.BOUNCED)
    make_subscriber("erin@example.com", Subscriber.Status.COMPLAINED)
    addresses = [
        "new@example.com",
        "alice@example.com",
        "carol@example.com",
        "dan@example.com",
        "erin@example.com",
    ]
    answers = set()
    for address in addresses:
        response = subscribe(address)
        page = without_csrf_tokens(client.get(response["Location"]).content)
        answers.add((response.status_code, response["Location"], response.content, page))
    assert len(answers) == 1
    # Each address's owner (and only they) learns the difference, by email; an address that
    # bounced or complained gets nothing, since anyone can type it (issue 13).
    assert sorted(m["X-Envelope-To"] for m in smtp_sink.messages) == sorted(addresses[:3])


def test_an_active_reader_gets_a_pointer_to_preferences_and_keeps_their_choices(alice, subscribe, smtp_sink):
    subscribe("alice@example.com", tags=[], language="ko")
    alice.refresh_from_db()
    assert alice.state == "active" and alice.language == "en"
    assert alice.chosen_tag_slugs() == ["reasoning", "rl"]
    [message] = smtp_sink.to("alice@example.com")
    assert "already subscribed" in text_part(message)
    assert "/subscribe/confirm/" not in text_part(message)
    link_in(message, "/preferences/")


def test_a_suppressed_address_gets_nothing_from_the_form_and_comes_back_by_its_preference_link(
    subscribe, smtp_sink, client, django_capture_on_commit_callbacks
):
    dan = make_subscriber("dan@example.com", Subscriber.Status.BOUNCED)
    make_tag("rl")
    subscribe("dan@example.com", tags=["rl"])
    dan.refresh_from_db()
    assert dan.state == "bounced" and smtp_sink.to("dan@example.com") == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(urlsplit(links.preferences_url(dan)).path, {"action": "resubscribe"})
    [message] = smtp_sink.to("dan@example.com")
    client.post(link_in(message, "/subscribe/confirm/"))
    dan.refresh_from_db()
    assert dan.state == "active"


def test_at_most_one_confirmation_email_per_address_per_ten_minutes(subscribe, smtp_sink):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
            subscribe("flood@example.com", ip=ip)
    assert len(smtp_sink.to("flood@example.com")) == 1
    with time_machine.travel(start + datetime.timedelta(minutes=9), tick=False):
        subscribe("flood@example.com")
    assert len(smtp_sink.to("flood@example.com")) == 1
    with time_machine.travel(start + datetime.timedelta(minutes=10, seconds=1), tick=False):
        subscribe("flood@example.com")
    assert len(smtp_sink.to("flood@example.com")) == 2


def test_one_client_ip_can_post_the_form_only_so_often(subscribe, smtp_sink, settings):
    settings.SUBSCRIBE_RATE_LIMIT = 3
    for n in range(3):
        assert subscribe(f"reader{n}@example.com", ip="198.51.100.7").status_code == 302
    blocked = subscribe("reader3@example.com", ip="198.51.100.7")
    assert blocked.status_code == 429
    assert "Too many requests" in blocked.content.decode()
    assert not Subscriber.objects.filter(email="reader3@example.com").exists()
    assert len(smtp_sink.messages) == 3
    assert subscribe("reader3@example.com", ip="198.51.100.8").status_code == 302


def test_a_spoofed_forwarded_for_header_does_not_escape_the_ip_limit(subscribe, smtp_sink, settings):
    settings.SUBSCRIBE_RATE_LIMIT = 3
    settings.TRUSTED_PROXIES = []
    codes = [
        subscribe(f"victim{n}@example.com", ip="198.51.100.7", forwarded_for=f"203.0.113.{n}").status_code
        for n in range(6)
    ]
    assert codes == [302, 302, 302, 429, 429, 429]
    assert len(smtp_sink.messages) == 3


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(subscribe, smtp_sink, settings):
    settings.SUBSCRIBE_RATE_LIMIT = 1
    settings.TRUSTED_PROXIES = ["172.30.0.0/24"]
    first = subscribe("one@example.com", ip="172.30.0.1", forwarded_for="1.2.3.4, 203.0.113.1")
    again = subscribe("two@example.com", ip="172.30.0.1", forwarded_for="9.9.9.9, 203.0.113.1")
    other = subscribe("three@example.com", ip="172.30.0.1", forwarded_for="203.0.113.2")
    assert [first.status_code, again.status_code, other.status_code] == [302, 429, 302]


def test_the_ip_limit_resets_after_its_window(subscribe, smtp_sink, settings):
    settings.SUBSCRIBE_RATE_LIMIT = 1
    settings.SUBSCRIBE_RATE_WINDOW = 3600
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert subscribe("one@example.com").status_code == 302
        assert subscribe("two@example.com").status_code == 429
    with time_machine.travel(start + datetime.timedelta(hours=1, seconds=1), tick=False):
        assert subscribe("two@example.com").status_code == 302


def test_a_filled_in_honeypot_looks_like_success_and_does_nothing(subscribe, smtp_sink):
    response = subscribe("bot@example.com", website="http://spam.example")
    assert response.status_code == 302 and response["Location"] == "/subscribe/check-inbox/"
    assert not Subscriber.objects.exists()
    assert smtp_sink.messages == []


def test_an_invalid_address_is_shown_again_with_an_error(subscribe, smtp_sink):
    response = subscribe("not-an-address")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Subscriber.objects.exists() and smtp_sink.messages == []


def confirm_path(subscriber_id: int) -> str:
    return f"/subscribe/confirm/{tokens.make_token(subscriber_id, tokens.CONFIRM)}/"


def test_a_tampered_confirm_link_shows_a_clear_page_and_changes_nothing(bob, client):
    path = confirm_path(bob.pk)
    for bad in (path[:-3] + "xx/", path[:-1] + "x/", "/subscribe/confirm/nonsense/"):
        for method in (client.get, client.post):
            response = method(bad)
            assert response.status_code == 400
            assert "This link does not work" in response.content.decode()
    bob.refresh_from_db()
    assert bob.state == "pending"


def test_an_expired_confirm_link_offers_a_new_one_and_changes_nothing(bob, client):
    with time_machine.travel(timezone.now() - datetime.timedelta(days=8)):
        path = confirm_path(bob.pk)
    response = client.post(path)
    assert response.status_code == 400
    page = response.content.decode()
    assert "This link has expired" in page and 'action="/subscribe/"' in page
    bob.refresh_from_db()
    assert bob.state == "pending"


def test_a_confirm_link_for_one_reader_cannot_confirm_another(bob, client):
    other = make_subscriber("other@example.com", Subscriber.Status.PENDING)
    bob_token = tokens.make_token(bob.pk, tokens.CONFIRM)
    other_token = tokens.make_token(other.pk, tokens.CONFIRM)
    forged = other_token.split(":")[0] + ":" + bob_token.split(":", 1)[1]
    assert client.post(f"/subscribe/confirm/{forged}/").status_code == 400
    unsubscribe_token = tokens.make_token(other.pk, tokens.UNSUBSCRIBE)
    assert client.post(f"/subscribe/confirm/{unsubscribe_token}/").status_code == 400
    other.refresh_from_db()
    bob.refresh_from_db()
    assert other.state == bob.state == "pending"
