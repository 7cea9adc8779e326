"""The confirmation-email task: enqueued after commit, retried on transient refusals, and a
permanent refusal suppresses the address."""

import smtplib
from unittest import mock

import pytest
from django.template import RequestContext, Template

from subscribers import subscribing
from subscribers.models import Subscriber
from subscribers.tasks import send_confirmation
from tests.factories import make_tag

pytestmark = pytest.mark.django_db


def test_the_email_is_enqueued_only_after_the_transaction_commits(django_capture_on_commit_callbacks):
    with mock.patch.object(send_confirmation, "delay") as delay:
        with django_capture_on_commit_callbacks() as callbacks:
            subscribing.request_subscription(
                email="new@example.com", language="ko", tags=[], ui_language="en"
            )
            assert not delay.called
        for callback in callbacks:
            callback()
    reader = Subscriber.objects.get()
    delay.assert_called_once_with(reader.pk, "en")


def test_the_task_sends_the_confirmation_email(smtp_sink, bob):
    send_confirmation(bob.pk, "en")
    [message] = smtp_sink.to(bob.email)
    assert "/subscribe/confirm/" in message.get_body(preferencelist=("plain",)).get_content()
    assert message["Auto-Submitted"] == "auto-generated"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "/subscribe/confirm/" in html and 'style="' in html  # CSS inlined for mail clients


def test_a_permanent_refusal_suppresses_the_address_without_retrying(smtp_sink, bob):
    smtp_sink.refuse[bob.email] = "550 5.1.1 no such user"
    send_confirmation(bob.pk, "en")
    bob.refresh_from_db()
    assert bob.state == "bounced"
    assert "550" in bob.events.last().detail and bob.events.last().source == "smtp"


def test_a_temporary_refusal_is_retried_and_changes_nothing(smtp_sink, bob):
    smtp_sink.refuse[bob.email] = "451 4.3.0 try again later"
    # Called directly (outside a worker), Celery's retry re-raises the original error.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_confirmation(bob.pk, "en")
    bob.refresh_from_db()
    assert bob.state == "pending"


def test_the_subscribe_form_tag_renders_a_working_form_on_any_page(rf):
    make_tag("rl", name="Reinforcement learning")
    html = Template("{% load subscribe %}{% subscribe_form %}").render(RequestContext(rf.get("/")))
    assert 'action="/subscribe/"' in html and "Reinforcement learning" in html
    assert 'name="email"' in html and 'name="website"' in html
    assert 'name="csrfmiddlewaretoken"' in html
