"""The mail backend: the only code that talks to an SMTP server or an ESP.

A sender holds one connection for a batch and sends one prebuilt message at a time, sorting
what the server answers into PermanentSendError (5xx: never try again), TransientSendError
(4xx, timeouts: try later) and ConnectionLost (the rest of the batch cannot go over this
connection). It must not touch the database or the ledger: sending.py records outcomes.
"""

import smtplib
import ssl

from django.conf import settings
from django.core.mail import get_connection

from newsletters.mail.messages import MessageTemplate

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class TransientSendError(Exception):
    """The server or the network failed in a way worth trying again (4xx, disconnect, timeout)."""


class PermanentSendError(Exception):
    """The server refused this message for good (5xx)."""

    def __init__(self, message: str, *, suppress_address: bool) -> None:
        super().__init__(message)
        self.suppress_address = suppress_address


class ConnectionLost(TransientSendError):
    """The connection is gone: the rest of the batch cannot go over it."""


class SMTPSender:
    """One smtplib connection for a batch, with SMTP replies sorted into permanent and transient."""

    def __init__(self) -> None:
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cls = smtplib.SMTP_SSL if settings.EMAIL_USE_SSL else smtplib.SMTP
        connection = cls(
            settings.EMAIL_HOST,
            settings.EMAIL_PORT,
            local_hostname=settings.EMAIL_HELO_NAME,
            timeout=settings.EMAIL_TIMEOUT,
        )
        if settings.EMAIL_USE_TLS:
            connection.starttls(context=ssl.create_default_context())
        if settings.EMAIL_HOST_USER:
            connection.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        return connection

    def send(self, template: MessageTemplate, *, from_address: str, fields: dict[str, str]) -> str:
        """Send the template filled with this reader's fields; its Message-ID."""
        data = template.render(**fields)
        try:
            if self.connection is None:
                self.connection = self._connect()
            self.connection.sendmail(from_address, [fields["to"]], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            self._raise_for(code, reply, "RCPT", suppress_address=True)
        except smtplib.SMTPSenderRefused as exc:
            # Our sender address was refused: never the reader's fault, so no suppression.
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
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        if not sent:
            raise TransientSendError("the backend sent nothing")
        return fields["message_id"]

    def close(self) -> None:
        self.connection.close()


def open_sender() -> SMTPSender | BackendSender:
    """SMTP straight through smtplib by default; any other EMAIL_BACKEND through Django."""
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        return SMTPSender()
    return BackendSender()
