"""Measure what one anonymous search costs, on an archive of many published entries.

Why: search used to compute the tsvector of every published row per query, so one 10 MB entry
made every search take seconds. This command fills an EMPTY (throwaway) database with
`--entries` published entries (20 a day, English and Korean commentary of realistic length)
plus, with `--huge-mb`, one entry of that many megabytes, then requests the search page for a
mix of queries (common and rare words, Korean with particles, several words, no match) through
the full Django stack, and prints p50/p95/max milliseconds as one JSON line. Meant for
PostgreSQL (`make bench-search`); on SQLite it measures the fallback.
"""

import datetime
import json
import random
import statistics
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client

from newsletters.models import Digest, Entry

ENGLISH = (
    "attention transformer entropy exploration reasoning policy gradient reward model sparse mixture "
    "experts diffusion token sequence linear hybrid gating memory retrieval benchmark scaling law agent "
    "planning vision language alignment preference optimisation distillation quantisation latency"
).split()
KOREAN = (
    "연구 모델 어텐션 탐색 보상 추론 토큰 엔트로피 선형 구조 실험 결과 성능 학습 데이터 정렬 확산 "
    "메모리 검색 에이전트 계획 시각 언어 효율 압축 지연"
).split()
PARTICLES = ("", "은", "는", "이", "가", "을", "를", "에서", "으로", "군요")
QUERIES = (
    "attention",
    "exploration",
    "explore",
    "reasoning policy",
    "sparse mixture experts",
    "연구",
    "어텐션과",
    "탐색을",
    "zyzzyva",
    "quantisation latency benchmark",
    "Lovelace",
    "diffusion",
)


def sentence(rng: random.Random, words: tuple[str, ...] | list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n)) + "."


def korean_sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(KOREAN) + rng.choice(PARTICLES) for _ in range(n)) + "."


def make_archive(*, entries: int, huge_mb: float, seed: int) -> None:
    """Published digests holding `entries` entries, 20 a day, plus one huge entry."""
    rng = random.Random(seed)
    start = datetime.date(2020, 1, 1)
    days = (entries + 19) // 20
    digests = Digest.objects.bulk_create(
        Digest(date=start + datetime.timedelta(days=day), status=Digest.Status.SENT) for day in range(days)
    )
    rows = [
        Entry(
            digest=digests[n // 20],
            position=n % 20,
            title=sentence(rng, ENGLISH, 8).title(),
            authors=["Ada Lovelace", f"Author {n}"],
            abstract=" ".join(sentence(rng, ENGLISH, 20) for _ in range(6)),
            commentary_ko=" ".join(korean_sentence(rng, 15) for _ in range(8)),
            commentary_en=" ".join(sentence(rng, ENGLISH, 18) for _ in range(8)),
            slug=f"bench-{n}",
            status=Entry.Status.READY,
        )
        for n in range(entries)
    ]
    Entry.objects.bulk_create(rows, batch_size=500)
    if huge_mb:
        size = int(huge_mb * 1_000_000)
        filler = (sentence(rng, ENGLISH, 30) + " ") * (size // 200)
        Entry.objects.create(
            digest=digests[-1],
            position=99,
            title="A very long entry",
            abstract=filler[:size],
            commentary_en=filler[:size],
            slug="bench-huge",
        )


class Command(BaseCommand):
    help = "Benchmark the search page on a throwaway database; prints p50/p95 as one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--entries", type=int, default=10_000)
        parser.add_argument("--huge-mb", type=float, default=10.0, help="add one entry this large (0: none)")
        parser.add_argument("--rounds", type=int, default=20, help="times each query is requested")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--flush", action="store_true", help="empty the (throwaway!) database first")

    def handle(self, *args, **opts) -> None:
        if opts["flush"]:
            call_command("flush", interactive=False, verbosity=0)
        if Entry.objects.exists() or Digest.objects.exists():
            raise CommandError("bench_search needs an empty, throwaway database (use --flush)")
        settings.DEBUG = False  # no query log growing with the requests
        started = time.perf_counter()
        make_archive(entries=opts["entries"], huge_mb=opts["huge_mb"], seed=opts["seed"])
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would have by now
        load_seconds = time.perf_counter() - started

        client = Client(HTTP_HOST=(settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip("."))
        client.get("/search/", {"q": "warm up"})
        timings, per_query = [], {}
        for _ in range(opts["rounds"]):
            for query in QUERIES:
                begin = time.perf_counter()
                response = client.get("/search/", {"q": query}, secure=True)
                elapsed = (time.perf_counter() - begin) * 1000
                if response.status_code != 200:
                    raise CommandError(f"search for {query!r} answered {response.status_code}")
                timings.append(elapsed)
                per_query.setdefault(query, []).append(elapsed)
        timings.sort()
        result = {
            "database": connection.vendor,
            "entries": Entry.objects.count(),
            "huge_entry_mb": opts["huge_mb"],
            "load_seconds": round(load_seconds, 1),
            "requests": len(timings),
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1),
            "max_ms": round(timings[-1], 1),
            "p50_ms_by_query": {q: round(statistics.median(t), 1) for q, t in per_query.items()},
        }
        self.stdout.write(json.dumps(result, ensure_ascii=False))
