"""Coming back after leaving takes a fresh confirmation; the form never mails a suppressed address."""

import datetime
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from subscribers import links
from subscribers.models import Subscriber
from tests.subscribers.helpers import link_in, make_subscriber

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def subscribe(client, django_capture_on_commit_callbacks):
    def post(email: str, ip: str = "203.0.113.5"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscribe/", {"email": email, "language": "en"}, REMOTE_ADDR=ip)

    return post


@pytest.mark.parametrize("state", [Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED])
def test_the_subscribe_form_never_mails_a_suppressed_address_and_answers_as_for_any(
    state, subscribe, smtp_sink
):
    make_subscriber("dan@example.com", state)
    suppressed = subscribe("dan@example.com")
    fresh = subscribe("new@example.com", ip="203.0.113.6")

    assert smtp_sink.to("dan@example.com") == []
    assert len(smtp_sink.to("new@example.com")) == 1
    # Same status, same place, same page: the form does not tell who is suppressed.
    assert (suppressed.status_code, suppressed["Location"]) == (fresh.status_code, fresh["Location"])
    assert Subscriber.objects.get(email="dan@example.com").state == state


def test_an_unsubscribed_reader_who_uses_the_form_gets_a_confirm_link_and_stays_out_until_then(
    subscribe, smtp_sink, client
):
    carol = make_subscriber("carol@example.com", Subscriber.Status.UNSUBSCRIBED)
    subscribe("carol@example.com")
    carol.refresh_from_db()
    assert carol.state == "unsubscribed"
    [message] = smtp_sink.to("carol@example.com")
    client.post(link_in(message, "/subscribe/confirm/"))
    carol.refresh_from_db()
    assert carol.state == "active"


def test_a_confirm_link_made_before_an_unsubscribe_cannot_bring_the_reader_back(subscribe, smtp_sink, client):
    started = timezone.now()
    with time_machine.travel(started, tick=False):
        subscribe("erin@example.com")
        [message] = smtp_sink.to("erin@example.com")
        old_link = link_in(message, "/subscribe/confirm/")
        client.post(old_link)
    erin = Subscriber.objects.get(email="erin@example.com")
    assert erin.state == "active"
    with time_machine.travel(started + datetime.timedelta(minutes=5), tick=False):
        erin.unsubscribe(source="one-click")

    with time_machine.travel(started + datetime.timedelta(minutes=6), tick=False):
        page = client.get(old_link)
        response = client.post(old_link)

    assert page.status_code == response.status_code == 400
    assert "expired" in response.content.decode().lower() or "new link" in response.content.decode().lower()
    erin.refresh_from_db()
    assert erin.state == "unsubscribed"


def test_a_bounced_reader_comes_back_only_with_a_link_sent_after_the_bounce(client, smtp_sink):
    dan = make_subscriber("dan@example.com", Subscriber.Status.BOUNCED)
    Subscriber.objects.filter(pk=dan.pk).update(state_changed_at=timezone.now() + datetime.timedelta(hours=1))
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2), tick=False):
        preferences = urlsplit(links.preferences_url(dan)).path
        client.post(preferences, {"action": "resubscribe"})
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2, minutes=1), tick=False):
        confirm = urlsplit(links.confirm_url(dan)).path
        client.post(confirm)
    dan.refresh_from_db()
    assert dan.state == "active"
