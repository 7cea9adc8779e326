import base64
import datetime
import json

import pytest
from django.utils import timezone

from subscribers.models import Subscriber
from subscribers.suppression import suppress
from tests.subscribers.helpers import make_subscriber

WEBHOOK = "/anymail/postmark/tracking/"
SECRET = "hook:s3cret-s3cret"


def postmark_event(
    email: str, *, record_type: str = "Bounce", type_: str = "HardBounce", id_: int = 1, at=None
):
    at = at or timezone.now()
    return {
        "RecordType": record_type,
        "Type": type_,
        "ID": id_,
        "Email": email,
        "BouncedAt": at.isoformat(),
        "Description": "The server was unable to deliver your message",
        "Details": "smtp;550 5.1.1 user unknown",
    }


@pytest.fixture
def post_webhook(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}

    def post(payload: dict, auth: str | None = SECRET):
        headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
        return client.post(WEBHOOK, data=json.dumps(payload), content_type="application/json", **headers)

    return post


def state_of(subscriber: Subscriber) -> str:
    subscriber.refresh_from_db()
    return subscriber.state


@pytest.mark.django_db
def test_a_permanent_smtp_refusal_suppresses_the_reader_once(alice):
    assert suppress("ALICE@example.com", reason="bounced", source="smtp", detail="550 user unknown")
    assert not suppress("alice@example.com", reason="bounced", source="smtp")
    assert state_of(alice) == "bounced"
    last = alice.events.last()
    assert (last.from_state, last.to_state, last.source, last.detail) == (
        "active",
        "bounced",
        "smtp",
        "550 user unknown",
    )
    assert not Subscriber.objects.active().filter(pk=alice.pk).exists()


@pytest.mark.django_db
def test_suppressing_an_unknown_address_changes_nothing():
    assert not suppress("nobody@example.com", reason="complained", source="esp")
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_suppress_accepts_only_bounced_or_complained(alice):
    with pytest.raises(ValueError):
        suppress(alice.email, reason="unsubscribed", source="smtp")


@pytest.mark.django_db
def test_a_hard_bounce_webhook_suppresses_the_reader(alice, post_webhook):
    response = post_webhook(postmark_event(alice.email))
    assert response.status_code == 200
    assert state_of(alice) == "bounced"
    assert alice.events.last().source == "esp:postmark"


@pytest.mark.django_db
def test_a_spam_complaint_webhook_marks_the_reader_complained(alice, post_webhook):
    post_webhook(postmark_event(alice.email, record_type="SpamComplaint", type_="SpamComplaint", id_=9))
    assert state_of(alice) == "complained"


@pytest.mark.django_db
def test_a_soft_bounce_webhook_changes_nothing(alice, post_webhook):
    post_webhook(postmark_event(alice.email, type_="SoftBounce"))
    post_webhook(postmark_event(alice.email, type_="Transient", id_=2))
    assert state_of(alice) == "active"


@pytest.mark.django_db
def test_a_forged_webhook_without_the_secret_changes_nothing(alice, post_webhook):
    assert post_webhook(postmark_event(alice.email), auth=None).status_code == 400
    assert post_webhook(postmark_event(alice.email), auth="hook:guess").status_code == 400
    assert state_of(alice) == "active"


@pytest.mark.django_db
@pytest.mark.parametrize("anymail", [{}, {"WEBHOOK_SECRET": ""}])
def test_webhooks_answer_404_until_a_secret_is_configured(alice, client, settings, anymail):
    settings.ANYMAIL = anymail
    response = client.post(
        WEBHOOK, data=json.dumps(postmark_event(alice.email)), content_type="application/json"
    )
    assert response.status_code == 404
    assert state_of(alice) == "active"


@pytest.mark.django_db
def test_a_replayed_bounce_after_the_reader_confirmed_again_changes_nothing(alice, post_webhook):
    event = postmark_event(alice.email, id_=77)
    post_webhook(event)
    assert state_of(alice) == "bounced"
    alice.confirm(source="confirm-link")
    assert post_webhook(event).status_code == 200
    assert state_of(alice) == "active"


@pytest.mark.django_db
def test_an_old_bounce_arriving_after_a_fresh_confirmation_changes_nothing(alice, post_webhook):
    alice.suppress("bounced", source="smtp")
    alice.confirm(source="confirm-link")
    old = timezone.now() - datetime.timedelta(hours=1)
    post_webhook(postmark_event(alice.email, id_=5, at=old))
    assert state_of(alice) == "active"


@pytest.mark.django_db
def test_a_bounce_for_one_reader_leaves_others_alone(alice, bob, post_webhook):
    post_webhook(postmark_event(bob.email))
    assert state_of(alice) == "active"
    assert state_of(bob) == "bounced"


@pytest.mark.django_db
def test_a_suppressed_reader_who_confirms_again_is_active(post_webhook):
    dan = make_subscriber("dan@example.com")
    post_webhook(postmark_event(dan.email))
    dan.refresh_from_db()
    assert dan.confirm(source="confirm-link")
    assert Subscriber.objects.active().filter(pk=dan.pk).exists()
