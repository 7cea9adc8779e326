"""Planning a send: fix the audience, render each variant once, write the ledger rows.

start_send() flips a digest to sending (only one trigger can win), maps every active reader
to the entries matching their tags, renders each distinct (entries, language) variant once
into a DigestVariant row and creates one Delivery row per reader (skipped for readers with
no match). plan_audience() answers what a send would do without writing anything.

It must not send, and never renders per reader: a day's render cost grows with its variants,
not its readers. Rows go on the broker through ledger.enqueue_due() once the plan is committed.
"""

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator

from django.db import transaction

from newsletters.delivery.ledger import Status, enqueue_due, finish_if_done
from newsletters.mail.content import email_entries_for, render_variant
from newsletters.models import Delivery, Digest, DigestVariant, Entry, EntryTag
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)

AUDIENCE_CHUNK = 2000
# Renders made by this process; the benchmark compares it with the number of variants.
render_count = 0


class DeliveryError(Exception):
    """A send that cannot start, e.g. a digest with no ready entry."""


def start_send(*, digest_id: int) -> int:
    """Start sending the digest; the number of readers queued (0 when another trigger won)."""
    if not Entry.objects.ready().filter(digest_id=digest_id).exists():
        raise DeliveryError("the digest has no ready entry to send")
    with transaction.atomic():
        # Conditional update: of two triggers at once (double click, beat and the command),
        # exactly one changes the row; the other sees 0 and leaves.
        won = Digest.objects.filter(
            pk=digest_id, status__in=[Digest.Status.DRAFT, Digest.Status.SCHEDULED]
        ).update(status=Digest.Status.SENDING, sent_at=None)
        if not won:
            return 0
        digest = Digest.objects.get(pk=digest_id)
        queued = create_deliveries(digest=digest)
        transaction.on_commit(lambda: enqueue_due(digest_id=digest_id))
        transaction.on_commit(lambda: finish_if_done(digest_id=digest_id))
    logger.info("digest %s: %s readers queued", digest.date, queued)
    return queued


def variant_key(entry_ids: tuple[int, ...], language: str) -> str:
    """A short stable name for (entries, language)."""
    return hashlib.sha1(f"{language}:{','.join(map(str, entry_ids))}".encode()).hexdigest()


def matching_entries(
    reader_tags: frozenset[int], entries: list[tuple[int, frozenset[int]]]
) -> tuple[int, ...]:
    """The entry ids (in the editor's order) a reader with these tags gets; no tags means all."""
    if not reader_tags:
        return tuple(entry_id for entry_id, _ in entries)
    return tuple(entry_id for entry_id, tags in entries if tags & reader_tags)


def active_readers(chunk_size: int = AUDIENCE_CHUNK) -> Iterator[list[tuple[int, str, frozenset[int]]]]:
    """Active readers as (id, language, tag ids), a chunk at a time, so memory stays flat."""
    through = Subscriber.tags.through
    last = 0
    while True:
        chunk = list(
            Subscriber.objects.active()
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "language")[:chunk_size]
        )
        if not chunk:
            return
        last = chunk[-1][0]
        tags: dict[int, set[int]] = defaultdict(set)
        for subscriber_id, tag_id in through.objects.filter(
            subscriber_id__gte=chunk[0][0], subscriber_id__lte=last
        ).values_list("subscriber_id", "tag_id"):
            tags[subscriber_id].add(tag_id)
        yield [(pk, language, frozenset(tags.get(pk, ()))) for pk, language in chunk]


def ready_entries(digest: Digest) -> list[tuple[int, frozenset[int]]]:
    """The digest's ready entries as (id, tag ids), in the editor's order."""
    entry_ids = list(digest.ordered_entries().ready().values_list("pk", flat=True))
    entry_tags: dict[int, set[int]] = defaultdict(set)
    for entry_id, tag_id in EntryTag.objects.filter(entry_id__in=entry_ids).values_list("entry_id", "tag_id"):
        entry_tags[entry_id].add(tag_id)
    return [(entry_id, frozenset(entry_tags[entry_id])) for entry_id in entry_ids]


def plan_audience(*, digest: Digest) -> dict:
    """What a send would do now, writing nothing: readers, readers skipped, and readers per variant."""
    entries = ready_entries(digest)
    variants: Counter[tuple[tuple[int, ...], str]] = Counter()
    skipped = 0
    for chunk in active_readers():
        for _, language, tags in chunk:
            matched = matching_entries(tags, entries)
            if matched:
                variants[(matched, language)] += 1
            else:
                skipped += 1
    return {
        "readers": sum(variants.values()),
        "variants": len(variants),
        "skipped": skipped,
        "by_variant": [
            {"entry_ids": list(ids), "language": language, "readers": count}
            for (ids, language), count in variants.most_common()
        ],
    }


def create_deliveries(*, digest: Digest) -> int:
    """Fix the audience: one Delivery row per active reader, each variant rendered once."""
    global render_count
    entries = ready_entries(digest)
    email_entries = email_entries_for(digest)
    matches: dict[frozenset[int], tuple[int, ...]] = {}
    variants: dict[tuple[tuple[int, ...], str], int] = {}
    readers: Counter[int] = Counter()
    queued = 0
    for chunk in active_readers():
        rows = []
        for subscriber_id, language, tags in chunk:
            if tags not in matches:
                matches[tags] = matching_entries(tags, entries)
            matched = matches[tags]
            if not matched:
                rows.append(
                    Delivery(
                        digest=digest,
                        subscriber_id=subscriber_id,
                        status=Status.SKIPPED,
                        last_error="no entry matches the reader's tags",
                    )
                )
                continue
            if (matched, language) not in variants:
                rendered = render_variant(
                    digest=digest, entry_ids=list(matched), language=language, email_entries=email_entries
                )
                render_count += 1
                variants[(matched, language)] = DigestVariant.objects.create(
                    digest=digest,
                    key=variant_key(matched, language),
                    language=language,
                    entry_ids=list(matched),
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                ).pk
            variant_id = variants[(matched, language)]
            readers[variant_id] += 1
            rows.append(Delivery(digest=digest, subscriber_id=subscriber_id, variant_id=variant_id))
            queued += 1
        Delivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    for variant_id, count in readers.items():
        DigestVariant.objects.filter(pk=variant_id).update(reader_count=count)
    return queued
