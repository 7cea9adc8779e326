"""The admin login is throttled per client IP and per username (django-axes)."""

import logging

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-right-password"


@pytest.fixture
def editor(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests
    return get_user_model().objects.create_superuser("editor", "editor@example.org", PASSWORD)


@pytest.fixture
def attempt(client):
    def post(password: str, *, username="editor", ip="203.0.113.5", forwarded_for="", language="en"):
        headers = {"Accept-Language": language}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        return client.post(
            "/admin/login/",
            {"username": username, "password": password, "next": "/admin/"},
            REMOTE_ADDR=ip,
            headers=headers,
        )

    return post


def test_wrong_passwords_lock_the_login_and_even_the_right_one_is_refused(attempt, editor, settings, caplog):
    settings.AXES_FAILURE_LIMIT = 3
    caplog.set_level(logging.WARNING)

    codes = [attempt(f"wrong-{n}").status_code for n in range(3)]
    locked = attempt(PASSWORD)

    assert codes[:2] == [200, 200]  # the login form again, with its error
    assert codes[2] == 429
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-in attempts" in page
    assert "blocked for 15 minutes" in page
    assert "_auth_user_id" not in locked.wsgi_request.session
    assert any("Locking out" in record.getMessage() for record in caplog.records)


def test_the_lockout_page_speaks_korean(attempt, editor, settings):
    settings.AXES_FAILURE_LIMIT = 1
    attempt("wrong")

    page = attempt(PASSWORD, language="ko").content.decode()

    assert "로그인 실패가 너무 많습니다" in page
    assert "15분 동안 차단되었습니다" in page


def test_one_ip_is_locked_whatever_usernames_it_tries(attempt, editor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        attempt("wrong", username=f"guess{n}")

    assert attempt(PASSWORD).status_code == 429
    assert attempt(PASSWORD, ip="198.51.100.9").status_code == 302  # another client still signs in


def test_one_username_is_locked_whatever_ips_try_it(attempt, editor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        attempt("wrong", ip=f"198.51.100.{n}")

    assert attempt(PASSWORD, ip="192.0.2.77").status_code == 429


def test_a_forged_forwarded_for_does_not_give_a_fresh_ip(attempt, editor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = []
    for n in range(3):
        attempt("wrong", username=f"guess{n}", forwarded_for=f"10.1.1.{n}")

    assert attempt(PASSWORD, forwarded_for="10.9.9.9").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled_not_the_proxy(attempt, editor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["172.30.0.0/24"]
    for n in range(3):
        attempt("wrong", username=f"guess{n}", ip="172.30.0.1", forwarded_for="203.0.113.66")

    assert attempt(PASSWORD, ip="172.30.0.1", forwarded_for="203.0.113.66").status_code == 429
    assert attempt(PASSWORD, ip="172.30.0.1", forwarded_for="203.0.113.67").status_code == 302


def test_a_successful_login_still_works_below_the_limit(attempt, editor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    attempt("wrong")

    assert attempt(PASSWORD).status_code == 302
