"""Chromium enforces the Content-Security-Policy: no page, public or admin, trips over it."""

import pytest

from tests.factories import make_digest, make_entry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_no_page_violates_its_content_security_policy(live_server, page, admin_user):
    digest = make_digest("2025-07-10", status="sent")
    entry = make_entry(digest=digest, arxiv_id="2507.00001")
    violations = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and violations.append(message.text),
    )

    for path in ("/", "/digests/2025-07-10/", "/papers/2507.00001/", "/subscribe/", "/search/?q=paper"):
        page.goto(live_server.url + path)
    # The subscribe form's honeypot is off screen through the stylesheet, not an inline style.
    page.goto(live_server.url + "/subscribe/")
    box = page.locator("input[name=website]").bounding_box()
    assert box is None or box["x"] < 0

    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out")).wait_for()
    for path in (
        f"/admin/newsletters/entry/{entry.pk}/change/",
        f"/admin/newsletters/digest/{digest.pk}/change/",
    ):
        page.goto(live_server.url + path)

    assert violations == []
