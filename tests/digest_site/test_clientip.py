"""X-Forwarded-For counts only when the connecting peer is a configured proxy."""

import pytest
from django.test import RequestFactory

from digest_site.clientip import client_ip


def ip_of(remote_addr: str, forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []

    assert ip_of("203.0.113.5", "198.51.100.1") == "203.0.113.5"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["172.30.0.0/24"]

    assert ip_of("203.0.113.5", "198.51.100.1") == "203.0.113.5"
    assert ip_of("203.0.113.5", "172.30.0.2, 198.51.100.1") == "203.0.113.5"


def test_a_trusted_proxy_vouches_for_the_address_it_appended(settings):
    settings.TRUSTED_PROXIES = ["172.30.0.0/24"]

    assert ip_of("172.30.0.1", "198.51.100.1") == "198.51.100.1"


def test_the_client_is_the_right_most_untrusted_hop_of_the_chain(settings):
    settings.TRUSTED_PROXIES = ["172.30.0.0/24", "10.0.0.7"]

    # The client wrote "1.1.1.1" itself; the edge proxy 10.0.0.7 appended the real address.
    assert ip_of("172.30.0.1", "1.1.1.1, 198.51.100.1, 10.0.0.7") == "198.51.100.1"


def test_a_chain_of_only_trusted_proxies_gives_the_left_most(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert ip_of("10.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("", "172.30.0.1"),
        ("not-an-ip", "172.30.0.1"),
        ("198.51.100.1, , 10.9.9.9", "10.9.9.9"),
        ("198.51.100.1, garbage", "172.30.0.1"),
        ("garbage, 198.51.100.1", "198.51.100.1"),
        ("198.51.100.1\x00", "172.30.0.1"),
        ("x" * 10_000, "172.30.0.1"),
        ("999.1.1.1", "172.30.0.1"),
        ("198.51.100.1:4711", "198.51.100.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
    ],
)
def test_garbage_in_the_header_never_picks_an_address_the_proxy_did_not_vouch_for(
    settings, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["172.30.0.0/24"]

    assert ip_of("172.30.0.1", forwarded) == expected


def test_a_trusted_ipv6_proxy(settings):
    settings.TRUSTED_PROXIES = ["::1", "127.0.0.1"]

    assert ip_of("::1", "198.51.100.1") == "198.51.100.1"
    assert ip_of("127.0.0.1", "2001:db8::5") == "2001:db8::5"


def test_a_malformed_trusted_proxies_setting_fails_loudly(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from digest_site.settings import env_networks

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
    with pytest.raises(ImproperlyConfigured, match="proxy.internal"):
        env_networks("TRUSTED_PROXIES", [])
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    assert env_networks("TRUSTED_PROXIES", []) == ["10.0.0.0/8", "::1"]
