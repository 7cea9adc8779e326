"""System checks that refuse a production configuration whose mail cannot be trusted.

Mail from `localhost` or a reserved example domain is rejected or marked as spam by every
large mailbox provider, and List-Unsubscribe one-click needs https. These checks run with
DEBUG off only (the embedded set-up mails its own catcher); they never touch the network.
"""

import ipaddress
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register

# RFC 2606 / 6761 names that can never receive or vouch for mail.
PLACEHOLDER_SUFFIXES = ("localhost", "example", "invalid", "test", "local", "localdomain", "internal")
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")


def is_placeholder_domain(domain: str) -> bool:
    """True for a host name no real mail can come from: localhost, example domains, IPs, no dot."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or "." not in domain:
        return True
    try:
        ipaddress.ip_address(domain.strip("[]"))
        return True
    except ValueError:
        pass
    last = domain.rsplit(".", 1)[-1]
    return last in PLACEHOLDER_SUFFIXES or any(
        domain == placeholder or domain.endswith("." + placeholder) for placeholder in PLACEHOLDER_DOMAINS
    )


def _address_error(name: str, value: str, check_id: str):
    address = parseaddr(value)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    if domain and not is_placeholder_domain(domain):
        return None
    return Error(
        f"{name} is {value!r}, which no mail provider will trust.",
        hint=f"Set {name} to an address at your own domain (e.g. digest@news.your-domain.org), "
        "with SPF, DKIM and DMARC records for that domain (README, Deploying).",
        id=check_id,
    )


@register("mail")
def check_mail_identity(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off: a real sender, unsubscribe address, https SITE_URL and HELO name."""
    if settings.DEBUG:
        return []
    errors = [
        error
        for error in (
            _address_error("DEFAULT_FROM_EMAIL", settings.DEFAULT_FROM_EMAIL, "digest_site.E101"),
            _address_error("UNSUBSCRIBE_MAILTO", settings.UNSUBSCRIBE_MAILTO, "digest_site.E102"),
        )
        if error
    ]
    site = urlsplit(settings.SITE_URL)
    if site.scheme != "https" or is_placeholder_domain(site.hostname or ""):
        errors.append(
            Error(
                f"SITE_URL is {settings.SITE_URL!r}: links in every email are built on it.",
                hint="Set SITE_URL to the site's public https address, e.g. https://news.your-domain.org "
                "(Gmail's and Yahoo's one-click unsubscribe needs https).",
                id="digest_site.E103",
            )
        )
    if is_placeholder_domain(settings.EMAIL_HELO_NAME):
        errors.append(
            Error(
                f"EMAIL_HELO_NAME is {settings.EMAIL_HELO_NAME!r}: the SMTP greeting and Message-IDs use it.",
                hint="Leave EMAIL_HELO_NAME unset to use SITE_URL's host, or set it to a host name "
                "of your own domain.",
                id="digest_site.E104",
            )
        )
    return errors


@register("mail")
def check_admins(app_configs=None, **kwargs) -> list[Warning]:
    """With DEBUG off: someone is told about missed digests and paused sends (ADMINS)."""
    if settings.DEBUG:
        return []
    if not settings.ADMINS:
        return [
            Warning(
                "ADMINS is empty: nobody is mailed when a digest is missed or a send pauses itself.",
                hint='Set ADMINS, e.g. ADMINS="Kim Ji-woo <kim@news.your-domain.org>, ops@your-domain.org".',
                id="digest_site.W105",
            )
        ]
    return [
        Warning(
            f"ADMINS holds {address!r}, which no one reads: staff mail would be lost.",
            hint="Use the staff's real addresses (the demo's staff@localhost is for `make run` only).",
            id="digest_site.W106",
        )
        for _, address in settings.ADMINS
        if is_placeholder_domain(address.rpartition("@")[2])
    ]
