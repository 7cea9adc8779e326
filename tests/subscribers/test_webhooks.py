"""ESP webhooks: 404 until a secret is set; with it, each event (tracking or inbound) applies once."""

import base64
import json

import pytest
from django.test import Client
from django.urls import reverse

from subscribers import tokens
from subscribers.models import ProcessedWebhookEvent, Subscriber
from subscribers.webhooks import urlpatterns as webhook_patterns
from tests.subscribers.helpers import make_subscriber

pytestmark = pytest.mark.django_db

SECRET = "hook:s3cret-s3cret"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


def state_of(subscriber: Subscriber) -> str:
    subscriber.refresh_from_db()
    return subscriber.state


@pytest.mark.parametrize(
    "name", sorted(pattern.name for pattern in webhook_patterns if "(" not in str(pattern.pattern))
)
def test_every_anymail_url_answers_404_without_a_secret(name, settings):
    settings.ANYMAIL = {}
    url = reverse(name)
    client = Client(enforce_csrf_checks=True)
    assert client.post(url, data="{}", content_type="application/json").status_code == 404
    assert client.get(url).status_code == 404


def test_with_a_secret_the_webhooks_are_there_and_still_csrf_free(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    client = Client(enforce_csrf_checks=True)
    response = client.post("/anymail/postmark/tracking/", data="{}", content_type="application/json", **AUTH)
    assert response.status_code != 404 and response.status_code != 403


def mailgun_like_unsubscribe_without_event_id(email: str) -> dict:
    # Postmark's SubscriptionChange has no ID field: anymail gives event_id None.
    return {
        "RecordType": "SubscriptionChange",
        "Recipient": email,
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "ChangedAt": "2030-01-01T00:00:00Z",
        "MessageID": "00000000-0000-0000-0000-000000000001",
    }


def test_a_replayed_event_without_an_id_applies_once(settings, client):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    alice = make_subscriber("alice@example.com")
    event = json.dumps(mailgun_like_unsubscribe_without_event_id(alice.email))

    client.post("/anymail/postmark/tracking/", data=event, content_type="application/json", **AUTH)
    assert state_of(alice) == "unsubscribed"
    alice.confirm(source="confirm-link")
    Subscriber.objects.filter(pk=alice.pk).update(confirmed_at="2031-01-01T00:00:00Z")
    client.post("/anymail/postmark/tracking/", data=event, content_type="application/json", **AUTH)

    assert state_of(alice) == "active"
    assert ProcessedWebhookEvent.objects.count() == 1


@pytest.mark.parametrize("message_id", ["inbound-1", None])
def test_a_replayed_inbound_unsubscribe_email_applies_once(settings, client, message_id):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    alice = make_subscriber("alice@example.com")
    token = tokens.make_token(alice.pk, tokens.UNSUBSCRIBE)
    email = {
        "FromFull": {"Email": "alice@example.com", "Name": ""},
        "ToFull": [{"Email": "unsubscribe@localhost", "Name": ""}],
        "Subject": f"unsubscribe {token}",
        "TextBody": "bye",
        "Headers": [],
        **({"MessageID": message_id} if message_id else {}),
    }

    def post():
        return client.post(
            "/anymail/postmark/inbound/", data=json.dumps(email), content_type="application/json", **AUTH
        )

    assert post().status_code == 200
    assert state_of(alice) == "unsubscribed"
    alice.confirm(source="confirm-link")
    assert post().status_code == 200
    assert state_of(alice) == "active"
