"""Reader pages and confirmation emails in Korean and English."""

import gettext
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.test import Client

from subscribers.models import Subscriber
from tests.subscribers.helpers import text_part

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

LOCALE = Path(__file__).resolve().parents[2] / "subscribers" / "locale"


def test_pages_follow_the_browsers_language():
    korean = Client(HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9").get("/subscribe/").content.decode()
    english = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").get("/subscribe/").content.decode()
    assert "데일리 다이제스트 구독" in korean and '<html lang="ko">' in korean
    assert "Subscribe to the daily digest" in english


def test_the_language_switch_overrides_the_browser():
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post("/i18n/setlang/", {"language": "ko", "next": "/subscribe/"})
    assert "데일리 다이제스트 구독" in client.get("/subscribe/").content.decode()


def subscribe_and_receive(smtp_sink, capture_on_commit, *, language: str, browser: str) -> EmailMessage:
    client = Client(HTTP_ACCEPT_LANGUAGE=browser)
    with capture_on_commit(execute=True):
        client.post("/subscribe/", {"email": "reader@example.com", "language": language})
    [message] = smtp_sink.to("reader@example.com")
    return message


def subject(message: EmailMessage) -> str:
    # Django folds a non-ASCII Subject onto a continuation line; the parser keeps its indent.
    return message["Subject"].strip()


def test_a_korean_reader_gets_a_korean_confirmation_email(smtp_sink, django_capture_on_commit_callbacks):
    message = subscribe_and_receive(
        smtp_sink, django_capture_on_commit_callbacks, language="ko", browser="en"
    )
    assert subject(message) == "Research Digest 구독을 확인해 주세요"
    assert "확인하려면 이 링크를 열고 버튼을 누르세요" in text_part(message)
    assert '<html lang="ko">' in message.get_body(preferencelist=("html",)).get_content()


def test_an_english_reader_gets_an_english_confirmation_email(smtp_sink, django_capture_on_commit_callbacks):
    message = subscribe_and_receive(
        smtp_sink, django_capture_on_commit_callbacks, language="en", browser="ko"
    )
    assert subject(message) == "Confirm your subscription to Research Digest"


def test_a_reader_of_both_gets_the_email_in_the_pages_language(smtp_sink, django_capture_on_commit_callbacks):
    message = subscribe_and_receive(
        smtp_sink, django_capture_on_commit_callbacks, language="both", browser="ko"
    )
    assert subject(message) == "Research Digest 구독을 확인해 주세요"
    assert Subscriber.objects.get().language == "both"


def test_the_compiled_korean_catalogue_translates_every_message():
    po = (LOCALE / "ko" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    msgids = re.findall(r'^msgid "', po, re.M)
    with open(LOCALE / "ko" / "LC_MESSAGES" / "django.mo", "rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog
    messages = {key: value for key, value in catalog.items() if key not in ("", ("", 0))}
    # Every msgid in the .po (less the header) is compiled, and none is left empty.
    assert len({key[0] if isinstance(key, tuple) else key for key in messages}) == len(msgids) - 1
    assert all(messages.values())
