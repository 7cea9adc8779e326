"""Production mail identity: a real sender, https links, and our own name in EHLO and Message-IDs."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from digest_site.checks import check_mail_identity, is_placeholder_domain
from tests.deploy.conftest import production_env, run

REAL = {
    "DEFAULT_FROM_EMAIL": "Research Digest <digest@news.digest-lab.net>",
    "UNSUBSCRIBE_MAILTO": "unsubscribe@news.digest-lab.net",
    "SITE_URL": "https://news.digest-lab.net",
    "EMAIL_HELO_NAME": "news.digest-lab.net",
}


@pytest.mark.parametrize(
    "domain",
    [
        "localhost",
        "mail.localhost",
        "example.org",
        "digest.example.com",
        "127.0.0.1",
        "[::1]",
        "box",
        "a.test",
        "x.invalid",
        "host.local",
        "",
    ],
)
def test_placeholder_domains_are_recognised(domain):
    assert is_placeholder_domain(domain)


@pytest.mark.parametrize("domain", ["news.digest-lab.net", "gmail.com", "연구.한국", "mail.example.co.kr"])
def test_real_domains_are_not_placeholders(domain):
    assert not is_placeholder_domain(domain)


def error_ids(settings, **overrides) -> list[str]:
    settings.DEBUG = False
    for name, value in {**REAL, **overrides}.items():
        setattr(settings, name, value)
    return [error.id for error in check_mail_identity()]


def test_a_real_identity_passes(settings):
    assert error_ids(settings) == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"DEFAULT_FROM_EMAIL": "Research Digest <digest@localhost>"}, ["digest_site.E101"]),
        ({"DEFAULT_FROM_EMAIL": "webmaster@example.org"}, ["digest_site.E101"]),
        ({"DEFAULT_FROM_EMAIL": "not an address"}, ["digest_site.E101"]),
        ({"UNSUBSCRIBE_MAILTO": "unsubscribe@localhost"}, ["digest_site.E102"]),
        ({"SITE_URL": "http://news.digest-lab.net"}, ["digest_site.E103"]),
        ({"SITE_URL": "https://127.0.0.1:8000"}, ["digest_site.E103"]),
        ({"EMAIL_HELO_NAME": "localhost"}, ["digest_site.E104"]),
    ],
)
def test_each_placeholder_is_refused_with_its_own_error(settings, overrides, expected):
    assert error_ids(settings, **overrides) == expected


def test_debug_mode_keeps_the_local_defaults(settings):
    settings.DEBUG = True
    settings.DEFAULT_FROM_EMAIL, settings.SITE_URL = "digest@localhost", "http://127.0.0.1:8000"
    assert check_mail_identity() == []


def test_manage_py_check_refuses_the_localhost_sender_in_production(tmp_path):
    env = production_env(tmp_path, DEFAULT_FROM_EMAIL="Research Digest <digest@localhost>")

    result = run(["manage.py", "check"], env)

    assert result.returncode != 0
    assert "DEFAULT_FROM_EMAIL is 'Research Digest <digest@localhost>'" in result.stderr
    assert "digest_site.E101" in result.stderr


def test_the_check_command_fails_loudly_in_process(settings):
    settings.DEBUG = False
    settings.DEFAULT_FROM_EMAIL = "digest@localhost"
    with pytest.raises(SystemCheckError, match="DEFAULT_FROM_EMAIL"):
        call_command("check")
