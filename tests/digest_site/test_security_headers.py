"""Every page carries the Content-Security-Policy; token pages are never stored by a cache."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from subscribers import tokens
from tests.factories import make_digest, make_entry
from tests.subscribers.helpers import make_subscriber

pytestmark = pytest.mark.django_db

CONFIRM, UNSUBSCRIBE, PREFERENCES = tokens.CONFIRM, tokens.UNSUBSCRIBE, tokens.PREFERENCES


def every_route(patterns=None, prefix: str = "") -> list[tuple[str, str]]:
    """(route, name) for each URL pattern, the nested ones with their prefixes."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += every_route(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            routes.append((route, pattern.name or ""))
    return routes


@pytest.fixture
def sample_values() -> dict[str, str]:
    """A value for each URL parameter that names something published."""
    digest = make_digest("2025-07-10", status="sent")
    entry = make_entry(digest=digest, tags=("rl",), arxiv_id="2507.00001")
    subscriber = make_subscriber("reader@example.com", tags=("rl",))
    return {
        "date": digest.date.isoformat(),
        "key": entry.arxiv_id,
        "slug": "rl",
        "token:confirm": tokens.make_token(subscriber.pk, CONFIRM),
        "token:unsubscribe": tokens.make_token(subscriber.pk, UNSUBSCRIBE),
        "token:preferences": tokens.make_token(subscriber.pk, PREFERENCES),
    }


def public_urls(values: dict[str, str]) -> list[str]:
    urls = []
    for route, name in every_route():
        if route.startswith(("admin/", "anymail/", "i18n/")) or route == "healthz":
            continue  # the admin has its own test; webhooks, set_language and healthz are not pages
        route = route.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")

        def fill(match: re.Match, name=name) -> str:
            parameter = match.group(1)
            return values.get(f"{parameter}:{name}") or values[parameter]

        urls.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route))
    return urls


def test_the_route_walk_finds_the_public_pages(sample_values):
    urls = public_urls(sample_values)

    assert {"/", "/archive/", "/search/", "/subscribe/", "/tags/rl/", "/digests/2025-07-10/"} <= set(urls)
    assert len(urls) >= 15


def test_every_public_url_has_a_strict_content_security_policy(client, sample_values):
    for url in public_urls(sample_values):
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy, url
        assert "script-src 'self';" in policy + ";", url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
        assert "default-src 'self'" in policy and "object-src 'none'" in policy, url


def test_error_pages_have_the_policy_too(client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_admin_keeps_frame_ancestors_none_and_allows_its_inline_scripts(client, admin_user):
    client.force_login(admin_user)

    for url in ("/admin/login/", "/admin/", "/admin/newsletters/digest/"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy, url
        assert "script-src 'self' 'unsafe-inline'" in policy, url


def test_public_pages_have_no_inline_scripts_or_styles(client, sample_values):
    for url in public_urls(sample_values):
        response = client.get(url)
        if not response["Content-Type"].startswith("text/html"):
            continue
        page = response.content.decode()
        scripts = re.findall(r"<script\b([^>]*)>", page)
        assert all("src=" in attrs or "application/ld+json" in attrs for attrs in scripts), url
        assert " style=" not in page and "<style" not in page, url
        assert not re.search(r"\son[a-z]+=", page), url


@pytest.mark.parametrize("name", ["confirm", "unsubscribe", "preferences"])
def test_token_pages_are_never_stored(client, sample_values, name):
    token = sample_values[f"token:{name}"]
    path = {"confirm": "/subscribe/confirm/", "unsubscribe": "/unsubscribe/", "preferences": "/preferences/"}

    good = client.get(f"{path[name]}{token}/")
    bad = client.get(f"{path[name]}not-a-token/")

    assert good.status_code == 200 and bad.status_code == 400
    for response in (good, bad):
        assert "no-store" in response["Cache-Control"]
        assert "private" in response["Cache-Control"]


def test_a_token_pages_post_answer_is_never_stored(client, sample_values):
    response = client.post(f"/unsubscribe/{sample_values['token:unsubscribe']}/", {})

    assert "no-store" in response["Cache-Control"]
