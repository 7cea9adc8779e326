"""ADMINS from the environment: who is mailed about missed digests and paused sends."""

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from digest_site.checks import check_admins
from digest_site.settings import env_admins
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("value", "admins"),
    [
        ("", []),
        ("ops@news.digest-lab.net", [("ops@news.digest-lab.net", "ops@news.digest-lab.net")]),
        (
            "Kim Ji-woo <kim@news.digest-lab.net>, ops@news.digest-lab.net",
            [
                ("Kim Ji-woo", "kim@news.digest-lab.net"),
                ("ops@news.digest-lab.net", "ops@news.digest-lab.net"),
            ],
        ),
        ('"Kim, Ji-woo" <kim@news.digest-lab.net>,', [("Kim, Ji-woo", "kim@news.digest-lab.net")]),
        ("김지우 <kim@news.digest-lab.net>", [("김지우", "kim@news.digest-lab.net")]),
    ],
)
def test_admins_are_read_as_name_and_address_pairs(monkeypatch, value, admins):
    monkeypatch.setenv("ADMINS", value)
    assert env_admins("ADMINS") == admins


@pytest.mark.parametrize(
    "value",
    [
        "kim",
        "Kim Ji-woo",
        "a@b",
        "kim@news.digest-lab.net, not an address",
        "Kim <kim@news.digest-lab.net> extra",
    ],
)
def test_an_admins_value_that_is_not_a_list_of_addresses_refuses_to_start(monkeypatch, value):
    monkeypatch.setenv("ADMINS", value)
    with pytest.raises(ImproperlyConfigured, match="ADMINS"):
        env_admins("ADMINS")


def test_the_settings_module_takes_admins_from_the_environment_and_mail_admins_uses_them():
    code = (
        "from django.conf import settings; from django.core import mail; "
        "from django.core.mail import mail_admins; "
        "settings.EMAIL_BACKEND = 'django.core.mail.backends.locmem.EmailBackend'; "
        "mail.outbox = []; mail_admins('1 digest(s) missed', 'body'); "
        "print(settings.ADMINS, mail.outbox[0].to)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO_ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "True",
            "ADMINS": "Kim Ji-woo <kim@news.digest-lab.net>, ops@news.digest-lab.net",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "[('Kim Ji-woo', 'kim@news.digest-lab.net'), ('ops@news.digest-lab.net', 'ops@news.digest-lab.net')]"
        " ['kim@news.digest-lab.net', 'ops@news.digest-lab.net']"
    )


def test_production_without_admins_or_with_the_demo_address_is_warned(settings):
    settings.DEBUG = False
    settings.ADMINS = []
    assert [w.id for w in check_admins()] == ["digest_site.W105"]
    settings.ADMINS = [("Digest staff", "staff@localhost"), ("Kim", "kim@news.digest-lab.net")]
    assert [w.msg for w in check_admins()] == [
        "ADMINS holds 'staff@localhost', which no one reads: staff mail would be lost."
    ]
    settings.ADMINS = [("Kim", "kim@news.digest-lab.net")]
    assert check_admins() == []
    settings.DEBUG, settings.ADMINS = True, []
    assert check_admins() == []
