"""Fixtures shared by the newsletters tests: the SMTP sink, and no prebuilt messages kept between tests."""

import pytest

from newsletters.delivery import sending
from newsletters.mail.smtpsink import ScriptedHandler, start_sink


@pytest.fixture
def sink_handler() -> ScriptedHandler:
    """The sink's handler: it records what arrives and answers as the test scripts it."""
    return ScriptedHandler()


@pytest.fixture
def sink(settings, sink_handler):
    """A real aiosmtpd server on a free loopback port, with the SMTP settings pointed at it."""
    controller = start_sink(sink_handler)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.DELIVERY_RETRY_BASE_SECONDS = 60
    settings.DELIVERY_RATE_LIMIT = 0
    yield sink_handler
    controller.stop()


@pytest.fixture(autouse=True)
def _fresh_variant_templates():
    """Each test starts with no prebuilt messages: a rolled-back test's variant ids are used again."""
    sending._templates.clear()
    yield
    sending._templates.clear()
