"""A stand-in for the Hub's daily-papers API: a ThreadingHTTPServer on a free 127.0.0.1 port.

serve_fake_hf() starts it and points HF_DAILY_PAPERS_URL at it; hf_item() writes one item in the
API's format (with the extra fields the real API sends, which the importer must ignore).
"""

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.loopback import QuietHandler, http_server


@dataclass
class FakeHf:
    url: str = ""
    status: int = 200
    body: bytes = b"[]"
    # Answers per ?date=, taking precedence over body.
    days: dict[str, bytes] = field(default_factory=dict)
    delay: float = 0.0
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    def answer(self, items: object, status: int = 200) -> None:
        self.body = json.dumps(items).encode()
        self.status = status


def hf_item(
    arxiv_id: str,
    title: str,
    upvotes: int = 10,
    *,
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing"),
    summary: str = "We study things.\nOn two lines.",
    comments: int = 2,
) -> dict:
    return {
        "paper": {
            "id": arxiv_id,
            "authors": [{"_id": f"a{n}", "name": name, "hidden": False} for n, name in enumerate(authors)],
            "publishedAt": "2025-07-09T17:59:58.000Z",
            "title": title,
            "summary": summary,
            "upvotes": upvotes,
            "discussionId": "6870a1b2c3",
            "ai_keywords": ["reasoning"],
        },
        "publishedAt": "2025-07-10T01:23:45.678Z",
        "title": title,
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png",
        "numComments": comments,
        "submittedBy": {"name": "someone", "fullname": "Some One"},
        "isAuthorParticipating": False,
    }


SIX_PAPERS = [
    hf_item("2507.06203", "A Survey on Latent Reasoning", 88, comments=5),
    hf_item("2507.07095", "Vision-Language-Vision Auto-Encoder", 41),
    hf_item("2507.06448", "Perception-Aware Policy Optimization for Multimodal Reasoning", 120, comments=9),
    hf_item("2507.05963", "Go to Zero: Towards Zero-shot Motion Generation with Million-scale Data", 12),
    hf_item("2507.06229", "Agent KB: Leveraging Cross-Domain Experience for Agentic Problem Solving", 67),
    hf_item("2507.07105", "4KAgent: Agentic Any Image to 4K Super-Resolution", 41, comments=0),
]


@contextlib.contextmanager
def serve_fake_hf(settings) -> Iterator[FakeHf]:
    fake = FakeHf()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            fake.queries.append(query)
            if fake.delay:
                fake.released.wait(fake.delay)
            body = fake.days.get((query.get("date") or [""])[0], fake.body)
            self.send_body(fake.status, body, "application/json; charset=utf-8")

    with http_server(Handler) as base_url:
        fake.url = f"{base_url}/api/daily_papers"
        settings.HF_DAILY_PAPERS_URL = fake.url
        settings.HF_TIMEOUT = 0.5
        try:
            yield fake
        finally:
            fake.released.set()
