"""TLS is verified on every path: SMTPS and STARTTLS, the digest, the confirmation email, mail to staff.

Each test starts an aiosmtpd sink speaking TLS with a certificate made here (openssl CLI,
self-signed for 127.0.0.1): untrusted, nothing is sent; trusted through EMAIL_SSL_CAFILE,
everything arrives.
"""

import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
from django.core.mail import mail_admins

from newsletters.delivery import policies
from newsletters.mail.smtpsink import ScriptedHandler, start_sink
from newsletters.models import Delivery, Digest
from subscribers import subscribing
from tests.newsletters.delivery.helpers import make_reader, make_sendable_digest, queue_send, send_all

pytestmark = pytest.mark.django_db


def make_certificate(folder: Path, name: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key: (cert path, key path)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    return make_certificate(tmp_path_factory.mktemp("tls"), "sink")


def server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture(params=["smtps", "starttls"])
def tls_sink(request, settings, certificate):
    """A sink that speaks SMTPS or requires STARTTLS, with the settings pointed at it."""
    handler = ScriptedHandler()
    if request.param == "smtps":
        controller = start_sink(handler, ssl_context=server_context(certificate))
    else:
        controller = start_sink(handler, tls_context=server_context(certificate), require_starttls=True)
    settings.EMAIL_BACKEND = "digest_site.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_SSL = request.param == "smtps"
    settings.EMAIL_USE_TLS = request.param == "starttls"
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_SSL_CAFILE = settings.EMAIL_SSL_CERTFILE = settings.EMAIL_SSL_KEYFILE = ""
    settings.DELIVERY_RATE_LIMIT = 0
    settings.ADMINS = [("Staff", "staff@example.com")]
    yield handler
    controller.stop()


def test_the_digest_is_refused_to_a_server_whose_certificate_is_not_trusted(
    tls_sink, django_capture_on_commit_callbacks, mailoutbox
):
    digest, _ = make_sendable_digest()
    make_reader("alice@example.com")

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert tls_sink.count == 0
    row = Delivery.objects.get(digest=digest)
    assert row.status == Delivery.Status.QUEUED and row.attempts == 0
    digest.refresh_from_db()
    assert digest.status == Digest.Status.PAUSED
    assert digest.status_note.startswith(policies.AUTO_PAUSE) and "not trusted" in digest.status_note


def test_the_digest_is_delivered_when_the_servers_certificate_is_trusted(
    tls_sink, settings, certificate, django_capture_on_commit_callbacks
):
    settings.EMAIL_SSL_CAFILE = certificate[0]
    digest, _ = make_sendable_digest()
    make_reader("alice@example.com")

    send_all(queue_send(digest, django_capture_on_commit_callbacks))

    assert [r.recipient for r in tls_sink.received] == ["alice@example.com"]
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT


def test_the_confirmation_email_and_mail_to_staff_are_refused_to_an_untrusted_server(tls_sink):
    reader = make_reader("new@example.com", state="pending")

    with pytest.raises(ssl.SSLCertVerificationError):
        subscribing.send_confirmation_email(reader.pk, ui_language="en")
    with pytest.raises(ssl.SSLCertVerificationError):
        mail_admins("subject", "body")
    assert tls_sink.count == 0


def test_the_confirmation_email_and_mail_to_staff_go_when_the_certificate_is_trusted(
    tls_sink, settings, certificate
):
    settings.EMAIL_SSL_CAFILE = certificate[0]
    reader = make_reader("new@example.com", state="pending")

    assert subscribing.send_confirmation_email(reader.pk, ui_language="en")
    mail_admins("subject", "body")

    assert sorted(r.recipient for r in tls_sink.received) == ["new@example.com", "staff@example.com"]


def test_a_certificate_for_another_name_is_refused_even_when_its_ca_is_trusted(
    tls_sink, settings, certificate, django_capture_on_commit_callbacks
):
    settings.EMAIL_SSL_CAFILE = certificate[0]
    settings.EMAIL_HOST = "localhost"  # the same server, by a name the certificate lacks
    reader = make_reader("new@example.com", state="pending")

    with pytest.raises(ssl.SSLCertVerificationError):
        subscribing.send_confirmation_email(reader.pk, ui_language="en")
    digest, _ = make_sendable_digest()
    make_reader("alice@example.com")
    send_all(queue_send(digest, django_capture_on_commit_callbacks))
    assert tls_sink.count == 0
    assert "not trusted" in Digest.objects.get(pk=digest.pk).status_note


def test_a_client_certificate_from_the_settings_is_presented(
    settings, certificate, tmp_path, django_capture_on_commit_callbacks
):
    client_cert, client_key = make_certificate(tmp_path, "client")
    context = server_context(certificate)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(client_cert)
    handler = ScriptedHandler()
    controller = start_sink(handler, ssl_context=context)
    settings.EMAIL_BACKEND = "digest_site.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_SSL, settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER = True, False, ""
    settings.EMAIL_SSL_CAFILE = certificate[0]
    settings.DELIVERY_RATE_LIMIT = 0
    try:
        reader = make_reader("new@example.com", state="pending")
        settings.EMAIL_SSL_CERTFILE = ""
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            subscribing.send_confirmation_email(reader.pk, ui_language="en")

        settings.EMAIL_SSL_CERTFILE, settings.EMAIL_SSL_KEYFILE = client_cert, client_key
        assert subscribing.send_confirmation_email(reader.pk, ui_language="en")
        digest, _ = make_sendable_digest()
        make_reader("alice@example.com")
        send_all(queue_send(digest, django_capture_on_commit_callbacks))
    finally:
        controller.stop()
    assert sorted(r.recipient for r in handler.received) == ["alice@example.com", "new@example.com"]
