"""One verified TLS context for every SMTP connection the site makes, and Django's SMTP backend using it.

The digest's own sender (newsletters/delivery/senders.py), the confirmation email and
mail_admins (Django's backend, through EMAIL_BACKEND) all take tls_context(): the server's
certificate is checked against the system's CAs, or EMAIL_SSL_CAFILE when set, and its name
against EMAIL_HOST; EMAIL_SSL_CERTFILE/EMAIL_SSL_KEYFILE add a client certificate.

Django 5.2's backend verifies with create_default_context(), except when a client certificate
is set: it then builds a bare SSLContext(PROTOCOL_TLS_CLIENT) with no CA loaded, so every
server fails verification, and it never reads a CA file of our own. Hence the subclass.
This module must not send anything itself.
"""

import ssl

from django.conf import settings
from django.core.mail.backends import smtp
from django.utils.functional import cached_property

DJANGO_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SMTP_BACKEND = "digest_site.smtp.EmailBackend"


def tls_context() -> ssl.SSLContext:
    """A client context that verifies the server: certificate chain and host name."""
    context = ssl.create_default_context(cafile=settings.EMAIL_SSL_CAFILE or None)
    if settings.EMAIL_SSL_CERTFILE:
        context.load_cert_chain(settings.EMAIL_SSL_CERTFILE, settings.EMAIL_SSL_KEYFILE or None)
    return context


def uses_smtp() -> bool:
    """Whether mail goes over SMTP (this backend or Django's own), not through an ESP's API."""
    return settings.EMAIL_BACKEND in (SMTP_BACKEND, DJANGO_SMTP_BACKEND)


class EmailBackend(smtp.EmailBackend):
    """Django's SMTP backend with tls_context(): verified for SMTPS and STARTTLS alike."""

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        return tls_context()
