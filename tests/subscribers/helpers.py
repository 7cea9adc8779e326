"""Helpers for the subscriber tests: a real SMTP sink, reading links out of received mail, personas."""

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from subscribers.models import Subscriber, SubscriberEvent
from tests.factories import make_tag


class FreePortController(Controller):
    """An aiosmtpd Controller that may listen on port 0 and learns the port it got."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Sink:
    messages: list[EmailMessage] = field(default_factory=list)
    # Addresses the server refuses at RCPT, with the reply to give ("550 5.1.1 no such user").
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message: EmailMessage, path: str) -> str:
    """The first link in the text part whose path starts with path, e.g. /subscribe/confirm/."""
    match = re.search(r"https?://[^\s/]+(" + re.escape(path) + r"[^\s]*)", text_part(message))
    assert match, f"no {path} link in:\n{text_part(message)}"
    return match.group(1)


def make_subscriber(
    email: str, state: str = Subscriber.Status.ACTIVE, *, language: str = "both", tags=()
) -> Subscriber:
    subscriber = Subscriber.objects.create(email=email, state=state, language=language)
    SubscriberEvent.objects.create(subscriber=subscriber, to_state=state, source="test")
    subscriber.tags.set([make_tag(slug) for slug in tags])
    return subscriber
