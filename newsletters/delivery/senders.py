"""The mail backend: the only code that talks to an SMTP server or an ESP.

A sender holds one connection for a batch and sends one prebuilt message at a time, sorting
every failure into one class (newsletters/delivery/policies.py decides what each class does):

- PermanentSendError(suppress_address=True): about the reader, 5xx at RCPT;
- PermanentSendError(suppress_address=False): about the message, 5xx at DATA;
- TransientSendError: 4xx, worth trying this reader again later;
- ConnectionLost: the connection went away mid-batch (the rest of the batch waits);
- ConfigurationError: the connection cannot be made or used as configured (TLS, login,
  refused, unknown host, our sender refused); every message would fail the same way.

TLS always verifies the server (digest_site/smtp.py). It must not touch the database or the
ledger: sending.py records outcomes.
"""

import smtplib
import socket
import ssl

from django.conf import settings
from django.core.mail import get_connection

from digest_site.smtp import SMTP_BACKEND, tls_context, uses_smtp
from newsletters.mail.messages import MessageTemplate

__all__ = ["SMTP_BACKEND", "uses_smtp"]


class TransientSendError(Exception):
    """The server or the network failed in a way worth trying again (4xx, disconnect, timeout)."""


class PermanentSendError(Exception):
    """The server refused this message for good (5xx)."""

    def __init__(self, message: str, *, suppress_address: bool) -> None:
        super().__init__(message)
        self.suppress_address = suppress_address


class ConnectionLost(TransientSendError):
    """The connection is gone: the rest of the batch cannot go over it."""


class ConfigurationError(ConnectionLost):
    """No message can go as configured (TLS, login, refused, unknown host, sender refused).

    kind is one of tls, auth, refused, dns, timeout, sender, relay, connect; the message says
    what to fix, in words for staff. definite: the settings are wrong for sure (not a timeout or
    a dropped greeting, which a busy server also causes).
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.definite = kind not in ("timeout", "connect")


def _where() -> str:
    return f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"


def classify_connect_error(exc: BaseException) -> ConfigurationError:
    """The configuration-class error a failure to connect, secure or log in stands for."""
    where = _where()
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConfigurationError(
            f"TLS: the certificate of {where} is not trusted ({exc.verify_message}); "
            "fix EMAIL_HOST or trust its CA with EMAIL_SSL_CAFILE",
            kind="tls",
        )
    if isinstance(exc, ssl.SSLError):
        return ConfigurationError(
            f"TLS with {where} failed ({exc.reason or exc}); check EMAIL_USE_SSL/_TLS and EMAIL_PORT",
            kind="tls",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return ConfigurationError(
            f"login to {where} refused ({exc.smtp_code} {reply}); check EMAIL_HOST_USER/EMAIL_HOST_PASSWORD",
            kind="auth",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ConfigurationError(f"{where} does not offer what the settings ask: {exc}", kind="tls")
    if isinstance(exc, socket.gaierror):
        return ConfigurationError(f"cannot resolve EMAIL_HOST {settings.EMAIL_HOST!r} ({exc})", kind="dns")
    if isinstance(exc, ConnectionRefusedError):
        return ConfigurationError(
            f"connection to {where} refused; check EMAIL_HOST and EMAIL_PORT", kind="refused"
        )
    if isinstance(exc, TimeoutError):
        return ConfigurationError(f"no answer from {where} within EMAIL_TIMEOUT", kind="timeout")
    return ConfigurationError(f"cannot connect to {where}: {type(exc).__name__}: {exc}", kind="connect")


class SMTPSender:
    """One smtplib connection for a batch, with every failure sorted into its class."""

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        """Connect, secure (verified) and log in; ConfigurationError when any step fails."""
        connection = None
        try:
            if settings.EMAIL_USE_SSL:
                connection = smtplib.SMTP_SSL(
                    settings.EMAIL_HOST,
                    settings.EMAIL_PORT,
                    local_hostname=settings.EMAIL_HELO_NAME,
                    timeout=settings.EMAIL_TIMEOUT,
                    context=tls_context(),
                )
            else:
                connection = smtplib.SMTP(
                    settings.EMAIL_HOST,
                    settings.EMAIL_PORT,
                    local_hostname=settings.EMAIL_HELO_NAME,
                    timeout=settings.EMAIL_TIMEOUT,
                )
            if settings.EMAIL_USE_TLS:
                connection.starttls(context=tls_context())
            if settings.EMAIL_HOST_USER:
                connection.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError, ssl.SSLError, OSError) as exc:
            if connection is not None:
                connection.close()
            raise classify_connect_error(exc) from exc
        except smtplib.SMTPException as exc:
            # A refused greeting (SMTPConnectError), an unexpected reply to EHLO or STARTTLS.
            if connection is not None:
                connection.close()
            raise ConfigurationError(f"{_where()} refused the session: {exc}", kind="connect") from exc
        return connection

    def send(self, template: MessageTemplate, *, from_address: str, fields: dict[str, str]) -> str:
        """Send the template filled with this reader's fields; its Message-ID."""
        data = template.render(**fields)
        if self.connection is None:
            self.connection = self._connect()
        try:
            self.connection.sendmail(from_address, [fields["to"]], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            self._raise_for(code, reply, "RCPT", suppress_address=True)
        except smtplib.SMTPSenderRefused as exc:
            self._raise_for(exc.smtp_code, exc.smtp_error, "MAIL", suppress_address=False)
        except smtplib.SMTPResponseException as exc:
            # A refusal after DATA is about the message (content, policy), not the address.
            self._raise_for(exc.smtp_code, exc.smtp_error, "DATA", suppress_address=False)
        except (smtplib.SMTPException, OSError) as exc:
            self.connection = None
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc
        return fields["message_id"]

    def _raise_for(self, code: int, reply: bytes | str, stage: str, *, suppress_address: bool) -> None:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        error = f"{stage} {code} {text}"
        if code == 421 or code < 0:
            # 421: the server is closing the connection (smtplib has closed it already).
            self.connection = None
            raise ConnectionLost(error)
        if 500 <= code < 600:
            if stage == "MAIL":
                # MAIL FROM is the same for every reader: refused once, refused for all.
                raise ConfigurationError(
                    f"{_where()} refused our sender address ({error}); check DEFAULT_FROM_EMAIL, login",
                    kind="sender",
                )
            if stage == "RCPT" and "relay" in text.lower():
                # "Relaying denied" is about us (no login, wrong server), never the reader:
                # suppressing on it would unsubscribe the whole list.
                raise ConfigurationError(
                    f"{_where()} will not relay for us ({error}); check EMAIL_HOST and the login",
                    kind="relay",
                )
            raise PermanentSendError(error, suppress_address=suppress_address)
        raise TransientSendError(error)

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


class BackendSender:
    """A Django email backend (an ESP through django-anymail), one connection per batch."""

    def __init__(self) -> None:
        self.connection = get_connection(fail_silently=False)
        self.connection.open()

    def send(self, template: MessageTemplate, *, from_address: str, fields: dict[str, str]) -> str:
        """Send the template filled with this reader's fields; its Message-ID."""
        message = template.as_django_message(**fields, connection=self.connection)
        try:
            sent = self.connection.send_messages([message])
        except Exception as exc:
            refused = type(exc).__name__ == "AnymailRecipientsRefused"
            if refused:
                raise PermanentSendError(str(exc), suppress_address=True) from exc
            if (
                getattr(exc, "status_code", None) in (401, 403)
                or type(exc).__name__ == "AnymailConfigurationError"
            ):
                # The ESP refused our credentials or set-up: every message would fail alike.
                raise ConfigurationError(f"the ESP refused our account: {exc}", kind="auth") from exc
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        if not sent:
            raise TransientSendError("the backend sent nothing")
        return fields["message_id"]

    def close(self) -> None:
        self.connection.close()


def open_sender() -> SMTPSender | BackendSender:
    """SMTP straight through smtplib by default; any other EMAIL_BACKEND through Django."""
    if uses_smtp():
        return SMTPSender()
    return BackendSender()
