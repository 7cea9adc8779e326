"""Fixtures for the subscriber flows: a real SMTP sink, eager Celery, and the personas."""

import pytest
from django.test import Client

from digest_site.celery import app as celery_app
from subscribers.models import Subscriber
from tests.subscribers.helpers import FreePortController, Sink, make_subscriber


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server on a free 127.0.0.1 port; Django's SMTP backend points at it."""
    sink = Sink()
    controller = FreePortController(sink, hostname="127.0.0.1", port=0)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    controller.stop()


@pytest.fixture
def celery_eager():
    """Run tasks in-process when enqueued, so an on_commit .delay() really sends the email."""
    old = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


@pytest.fixture
def alice(db) -> Subscriber:
    return make_subscriber("alice@example.com", tags=("rl", "reasoning"), language="en")


@pytest.fixture
def bob(db) -> Subscriber:
    return make_subscriber("bob@example.com", Subscriber.Status.PENDING)


@pytest.fixture
def carol(db) -> Subscriber:
    return make_subscriber("carol@example.com", Subscriber.Status.UNSUBSCRIBED)


@pytest.fixture
def client():
    """A browser that prefers English (the site's default language is Korean)."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")
