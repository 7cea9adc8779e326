"""Feeds stay valid XML whatever text is stored (rows written before the input rules, or by a shell)."""

import xml.etree.ElementTree as ElementTree

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletters.models import Digest, Entry
from tests.factories import make_digest, make_entry

pytestmark = pytest.mark.django_db

FEEDS = [
    reverse("newsletters:rss"),
    reverse("newsletters:atom"),
    reverse("newsletters:tag_rss", kwargs={"slug": "rl"}),
    reverse("newsletters:tag_atom", kwargs={"slug": "rl"}),
]
# Every C0 control but NUL (PostgreSQL cannot store NUL; SQLite can, and it is covered there).
CONTROLS = "".join(chr(code) for code in range(1, 32)) + "\x7f\x85\ufffe\uffff"


def feeds_of_a_day_holding(text: str) -> list[tuple[int, bytes]]:
    digest = make_digest("2025-07-10", status=Digest.Status.SENT, intro_en=text)
    make_entry(
        digest=digest,
        title=f"Title {text}",
        authors=[f"Ada {text}", "Alan"],
        abstract=text,
        commentary_ko=f"한국어 {text}",
        commentary_en=f"English {text}",
    )
    digest.entries.update(title=f"Title {text}")
    client = Client()
    return [(response.status_code, response.content) for response in map(client.get, FEEDS)]


def test_a_title_with_a_vertical_tab_no_longer_breaks_the_four_feeds():
    for status, body in feeds_of_a_day_holding("bad\x0bvertical tab and \x0cform feed"):
        assert status == 200
        root = ElementTree.fromstring(body)  # raises on anything XML 1.0 cannot hold
        assert "bad" in ElementTree.tostring(root, encoding="unicode")


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL cannot store NUL at all")
def test_a_nul_in_stored_text_is_dropped_from_the_feeds():
    for status, body in feeds_of_a_day_holding("nul\x00here"):
        assert status == 200
        ElementTree.fromstring(body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(CONTROLS),
        max_size=60,
    )
)
def test_any_stored_text_gives_four_well_formed_feeds(text):
    Entry.objects.all().delete()
    Digest.objects.all().delete()
    for status, body in feeds_of_a_day_holding(text):
        assert status == 200
        ElementTree.fromstring(body)
