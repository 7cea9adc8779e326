"""Every kind of email scores 0 or less with SpamAssassin's offline rules (`spamassassin -t -L`)."""

import re
import shutil
import subprocess

import pytest

from newsletters.delivery.sending import send_test
from newsletters.mail.content import email_entries_for, render_variant
from newsletters.mail.messages import build_message_template
from subscribers.subscribing import render_confirmation_email
from tests.conftest import missing_service
from tests.newsletters.mail.test_rendering import OWN_LARGE_DAY, import_day
from tests.subscribers.helpers import make_subscriber

pytestmark = pytest.mark.django_db
SITE = "https://news.digest-lab.net"


@pytest.fixture
def production_identity(settings):
    settings.SITE_URL = SITE
    settings.EMAIL_HELO_NAME = "news.digest-lab.net"
    settings.DEFAULT_FROM_EMAIL = "Research Digest <digest@news.digest-lab.net>"
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@news.digest-lab.net"


def spam_report(message: bytes) -> tuple[float, str]:
    """SpamAssassin's score and report for one raw message, local rules only."""
    if not shutil.which("spamassassin"):
        missing_service("SpamAssassin is not installed: apt-get install spamassassin")
    result = subprocess.run(["spamassassin", "-t", "-L"], input=message, capture_output=True, timeout=120)
    report = result.stdout.decode(errors="replace")
    score = re.search(r"Content analysis details:\s+\((-?[0-9.]+) points", report)
    assert score, report[-2000:]
    return float(score.group(1)), report[report.find("Content analysis details") :]


@pytest.mark.parametrize("language", ["ko", "en", "both"])
def test_the_digest_scores_zero_or_less(production_identity, language):
    digest = import_day(OWN_LARGE_DAY)
    rendered = render_variant(digest=digest, entry_ids=list(email_entries_for(digest)), language=language)
    message = build_message_template(rendered).render(
        to="reader@gmail.com",
        message_id="<digest-1.reader-1@news.digest-lab.net>",
        unsubscribe_url=f"{SITE}/unsubscribe/1:abc:def/",
        unsubscribe_mailto="mailto:unsubscribe@news.digest-lab.net?subject=unsubscribe",
        preferences_url=f"{SITE}/preferences/1:abc:def/",
    )

    score, report = spam_report(message)

    assert score <= 0, report


def test_the_confirmation_email_scores_zero_or_less(production_identity):
    message = render_confirmation_email(make_subscriber("new@gmail.com"), ui_language="ko").message()

    score, report = spam_report(message.as_bytes())

    assert score <= 0, report


def test_the_editors_test_send_scores_zero_or_less(production_identity, sink, django_user_model):
    digest = import_day(OWN_LARGE_DAY)
    editor = django_user_model.objects.create_user("editor", email="editor@gmail.com", is_staff=True)

    send_test(
        digest=digest,
        entry_ids=list(email_entries_for(digest)),
        language="both",
        to="editor@gmail.com",
        user=editor,
    )

    (received,) = sink.received
    score, report = spam_report(received.data)
    assert score <= 0, report
