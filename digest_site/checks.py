"""System checks that refuse a configuration whose mail cannot be trusted or delivered in time.

Mail from `localhost` or a reserved example domain is rejected or marked as spam by every
large mailbox provider, and List-Unsubscribe one-click needs https. These checks run with
DEBUG off only (the embedded set-up mails its own catcher). The delivery timing checks run
always, and a worker runs them at start too (digest_site/celery.py). None touches the network.
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


@register("delivery")
def check_delivery_timing(app_configs=None, **kwargs) -> list[Error]:
    """Delivery timings that cannot work together: refused at start, DEBUG or not.

    A lease shorter than an SMTP transaction kills every attempt ("the worker stopped during
    every attempt"); a batch longer than the lease or the stop grace period is killed mid-batch
    and sends duplicates; a broker that redelivers before the lease hands a running batch to a
    second worker.
    """
    from newsletters.delivery.sending import RECORD_RETRY_SECONDS

    lease = settings.DELIVERY_LEASE_SECONDS
    timeout = settings.EMAIL_TIMEOUT or 0
    batch = settings.DELIVERY_BATCH_SECONDS
    beat = settings.DELIVERY_HEARTBEAT_SECONDS
    grace = settings.WORKER_STOP_GRACE_SECONDS
    errors = []
    if lease < 3 * timeout:
        errors.append(
            Error(
                f"DELIVERY_LEASE_SECONDS ({lease}) is below 3 × EMAIL_TIMEOUT ({timeout}): one slow SMTP "
                "server would outlast the lease and every attempt would be killed.",
                hint=f"Raise DELIVERY_LEASE_SECONDS to at least {3 * timeout}, or lower EMAIL_TIMEOUT.",
                id="digest_site.E201",
            )
        )
    if batch <= 0 or batch + timeout >= lease:
        errors.append(
            Error(
                f"DELIVERY_BATCH_SECONDS ({batch}) plus one EMAIL_TIMEOUT ({timeout}) must be positive "
                f"and below DELIVERY_LEASE_SECONDS ({lease}), the batch task's hard time limit.",
                hint="Lower DELIVERY_BATCH_SECONDS (20 is the default) or raise DELIVERY_LEASE_SECONDS.",
                id="digest_site.E202",
            )
        )
    needed = batch + timeout + RECORD_RETRY_SECONDS
    if needed > grace:
        errors.append(
            Error(
                f"A worker may need {needed:g} s to stop (DELIVERY_BATCH_SECONDS {batch} + EMAIL_TIMEOUT "
                f"{timeout} + {RECORD_RETRY_SECONDS:g} s of ledger retries) but WORKER_STOP_GRACE_SECONDS "
                f"is {grace}: it would be killed mid-batch and readers would get duplicates.",
                hint="Lower DELIVERY_BATCH_SECONDS or EMAIL_TIMEOUT, or give workers a longer stop grace "
                "period (compose's stop_grace_period follows WORKER_STOP_GRACE_SECONDS).",
                id="digest_site.E203",
            )
        )
    if beat <= 0 or 3 * beat >= lease:
        errors.append(
            Error(
                f"DELIVERY_HEARTBEAT_SECONDS ({beat:g}) must be positive and three beats below "
                f"DELIVERY_LEASE_SECONDS ({lease}).",
                hint="Keep the default of 5 seconds.",
                id="digest_site.E204",
            )
        )
    visibility = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}).get("visibility_timeout")
    longest = max(lease, settings.DELIVERY_RETRY_MAX_SECONDS)
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")) and visibility is not None:
        if visibility <= longest:
            errors.append(
                Error(
                    f"CELERY_VISIBILITY_TIMEOUT ({visibility}) is not above the lease or the longest retry "
                    f"delay ({longest:g}): Redis would hand a running or waiting batch to a second worker.",
                    hint=f"Raise CELERY_VISIBILITY_TIMEOUT above {longest:g} (3600 is the default).",
                    id="digest_site.E205",
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
