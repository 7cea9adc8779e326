"""One name for this site in mail: the SMTP greeting (EHLO) and every Message-ID's domain.

Django's SMTP backend and EmailMessage take the machine's own host name (DNS_NAME), which
in a container is a random id or "localhost"; receiving servers count that against us.
use_configured_mail_name() makes DNS_NAME answer settings.EMAIL_HELO_NAME instead, read at
each use so the setting can change (tests). The digest's own sender reads the same setting.
"""

from django.conf import settings
from django.core.mail.utils import DNS_NAME, CachedDnsName


class ConfiguredMailName(CachedDnsName):
    def get_fqdn(self) -> str:
        return settings.EMAIL_HELO_NAME


def use_configured_mail_name() -> None:
    """Point Django's mail host name (EHLO, Message-ID) at EMAIL_HELO_NAME."""
    DNS_NAME.__class__ = ConfiguredMailName


def mail_domain() -> str:
    """The domain of this site's Message-IDs."""
    return settings.EMAIL_HELO_NAME.strip().lower()
