"""Add from arXiv: the admin looks a paper up (against a local stand-in for the API) and fills the form."""

import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from tests.factories import make_digest, make_entry
from tests.loopback import QuietHandler, http_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_admin(settings) -> None:
    """The admin follows the browser's language; these tests read the English text."""
    settings.LANGUAGE_CODE = "en"


PAPER_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title type="html">ArXiv Query: id_list=2505.13447</title>
  <entry>
    <id>http://arxiv.org/abs/2505.13447v1</id>
    <published>2025-05-19T17:59:42Z</published>
    <title>Mean Flows for One-step
  Generative Modeling</title>
    <summary>  We propose a principled and effective framework
for one-step generative modeling.
</summary>
    <author><name>Zhengyang Geng</name></author>
    <author><name>Mingyang Deng</name></author>
    <author><name>Yang (Katie)Zhao</name></author>
    <arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""

EMPTY_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>ArXiv Query</title></feed>
"""


class FakeArxiv(QuietHandler):
    """Answers id_list=2505.13447 with the paper and any other id with an empty feed."""

    def do_GET(self) -> None:
        ids = parse_qs(urlparse(self.path).query).get("id_list", [""])
        body = (PAPER_FEED if ids == ["2505.13447"] else EMPTY_FEED).encode()
        self.send_body(200, body, "application/atom+xml; charset=utf-8")


@pytest.fixture
def fake_arxiv(settings) -> Iterator[str]:
    with http_server(FakeArxiv) as base_url:
        settings.ARXIV_API_URL = f"{base_url}/api/query"
        settings.ARXIV_TIMEOUT = 5.0
        yield settings.ARXIV_API_URL


@pytest.fixture
def closed_port_arxiv(settings) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.ARXIV_API_URL = f"http://127.0.0.1:{port}/api/query"
    settings.ARXIV_TIMEOUT = 2.0
    return settings.ARXIV_API_URL


FROM_ARXIV = "/admin/newsletters/entry/from-arxiv/"


def test_add_from_arxiv_prefills_the_add_form(admin_client, fake_arxiv):
    digest = make_digest("2025-07-10")

    response = admin_client.post(
        FROM_ARXIV, {"arxiv": "https://arxiv.org/abs/2505.13447v1", "digest": digest.pk}, follow=True
    )

    assert response.status_code == 200
    assert response.redirect_chain[0][0].startswith(reverse("admin:newsletters_entry_add") + "?")
    html = response.content.decode()
    assert "Filled from arXiv 2505.13447" in html
    assert 'value="Mean Flows for One-step Generative Modeling"' in html
    assert 'value="Zhengyang Geng, Mingyang Deng, Yang (Katie)Zhao"' in html
    assert (
        "We propose a principled and effective framework for one-step generative modeling.</textarea>" in html
    )
    assert 'value="https://arxiv.org/abs/2505.13447"' in html
    assert 'value="2505.13447"' in html
    assert f'<option value="{digest.pk}" selected>' in html


def test_add_from_arxiv_answers_the_page_script_with_json(admin_client, fake_arxiv):
    response = admin_client.post(FROM_ARXIV, {"arxiv": "arXiv:2505.13447"}, HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json() == {
        "fields": {
            "title": "Mean Flows for One-step Generative Modeling",
            "authors": "Zhengyang Geng, Mingyang Deng, Yang (Katie)Zhao",
            "abstract": "We propose a principled and effective framework for one-step generative modeling.",
            "source_url": "https://arxiv.org/abs/2505.13447",
            "arxiv_id": "2505.13447",
        },
        "warning": "",
    }


def test_add_from_arxiv_warns_when_the_paper_is_already_an_entry(admin_client, fake_arxiv):
    earlier = make_digest("2025-05-20")
    make_entry(title="Mean Flows", arxiv_id="2505.13447", digest=earlier)

    response = admin_client.post(FROM_ARXIV, {"arxiv": "2505.13447"}, follow=True)

    html = response.content.decode()
    assert "This arXiv paper is already in digest" in html
    assert f'<a href="/admin/newsletters/digest/{earlier.pk}/change/">2025-05-20</a>' in html


def test_unknown_arxiv_id_shows_arxivs_answer_as_an_error_message(admin_client, fake_arxiv):
    response = admin_client.post(FROM_ARXIV, {"arxiv": "2501.99999"}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Could not fill from arXiv: arXiv has no paper 2501.99999." in html
    assert 'class="error"' in html


def test_invalid_arxiv_id_shows_a_message_without_asking_arxiv(admin_client, closed_port_arxiv):
    response = admin_client.post(FROM_ARXIV, {"arxiv": "not an id", "digest": "3"}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(reverse("admin:newsletters_entry_add") + "?digest=3", 302)]
    assert "is not an arXiv id or arXiv link" in response.content.decode()


def test_unreachable_arxiv_shows_a_message_not_a_server_error(admin_client, closed_port_arxiv):
    response = admin_client.post(FROM_ARXIV, {"arxiv": "2505.13447"})

    assert response.status_code == 302
    page = admin_client.get(response.url)
    assert page.status_code == 200
    assert "Could not fill from arXiv: arXiv could not be reached" in page.content.decode()


def test_unreachable_arxiv_answers_the_page_script_with_the_message(admin_client, closed_port_arxiv):
    response = admin_client.post(FROM_ARXIV, {"arxiv": "2505.13447"}, HTTP_ACCEPT="application/json")

    assert response.status_code == 502
    assert response.json()["error"].startswith("arXiv could not be reached")


def test_add_from_arxiv_refuses_anonymous_users(client, fake_arxiv):
    response = client.post(FROM_ARXIV, {"arxiv": "2505.13447"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
