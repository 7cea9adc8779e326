"""Addresses no mail server takes are refused at subscribe with a message; no input answers 500."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subscribers.forms import SubscribeForm
from subscribers.models import Subscriber, SubscriberEvent

pytestmark = pytest.mark.django_db

KOREAN_DOMAIN = "reader@" + ".".join(["가나다라마바사아자차"] * 9) + ".kr"  # 103 characters, 333 in ASCII


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    settings.SUBSCRIBE_RATE_LIMIT = 10_000


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ('"ab"@example.com', "quotation marks"),
        ('"a b"@example.com', "quotation marks"),
        ("a\\b@example.com", "quotation marks"),
        ("reader@[127.0.0.1]", "IP address"),
        ("reader@[IPv6:::1]", "IP address"),
        ("=?utf-8?q?r=C3=A9ader?=@example.com", "Latin letters"),
        ("ſ@example.com", "Latin letters"),
        ("독자@example.com", "Latin letters"),
        ("x" * 65 + "@example.com", "longer than 64 characters"),
        (KOREAN_DOMAIN, "written for mail servers it has 333 characters"),
        ("reader@localhost", "full domain name"),
        ("not an address", "valid email address"),
    ],
)
def test_an_address_mail_servers_refuse_is_refused_with_a_message(address, words, client):
    response = client.post("/subscribe/", {"email": address, "language": "en"}, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Subscriber.objects.exists()


def test_the_message_is_in_korean_for_a_korean_page():
    korean = Client(HTTP_ACCEPT_LANGUAGE="ko")
    response = korean.post(
        "/subscribe/", {"email": KOREAN_DOMAIN, "language": "en"}, REMOTE_ADDR="203.0.113.9"
    )
    assert "주소가 너무 깁니다" in response.content.decode()


def test_a_korean_domain_that_fits_once_in_ascii_is_taken_in_its_ascii_form():
    form = SubscribeForm(data={"email": "Reader@한국.kr", "language": "en"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == "reader@xn--3e0b707e.kr"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    local=st.one_of(
        st.text(st.characters(codec="utf-8"), min_size=0, max_size=70),
        st.from_regex(r"[a-z0-9.+_=?\"-]{1,70}", fullmatch=True),
    ),
    domain=st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=80),
        st.lists(st.text("가나다abc-", min_size=1, max_size=20), min_size=1, max_size=12).map(".".join),
    ),
)
def test_no_address_makes_the_subscribe_form_fail_and_what_it_takes_fits_a_mail_server(local, domain):
    response = Client().post(
        "/subscribe/", {"email": f"{local}@{domain}", "language": "en"}, REMOTE_ADDR="203.0.113.10"
    )

    assert response.status_code in (302, 400)
    for subscriber in Subscriber.objects.all():
        email = subscriber.email
        local_part, _, domain_part = email.rpartition("@")
        assert email.isascii() and len(email) <= 254 and len(local_part) <= 64
        assert not local_part.startswith('"') and not domain_part.startswith("[") and "." in domain_part
    SubscriberEvent.objects.all().delete()
    Subscriber.objects.all().delete()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("reader@faß.de", "reader@xn--fa-hia.de"), ("reader@ß.de", "reader@xn--zca.de")],
)
def test_a_domain_is_stored_as_mail_servers_resolve_it_never_as_another_domain(typed, stored):
    # IDNA 2003 would store faß.de as fass.de: someone else's domain, mailed every morning.
    form = SubscribeForm(data={"email": typed, "language": "en"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == stored
