"""Planning a send: fix the audience, render each variant once, write the ledger rows.

begin_send() flips a digest to sending (only one trigger can win); plan_send(), run once
afterwards (in a task, so the editor's page says "sending" at once), maps every active reader
to the entries matching their tags, renders each distinct (entries, language, abstracts or
not) variant once
into a DigestVariant row and creates one Delivery row per reader (skipped for readers with
no match). plan_audience() answers what a send would do without writing anything.

It must not send, and never renders per reader: a day's render cost grows with its variants,
not its readers. Rows go on the broker through ledger.enqueue_due() once the plan is committed.
"""

import datetime
import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

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


def check_sendable(*, digest_id: int) -> None:
    """Raise DeliveryError when the digest has nothing a reader could get."""
    if not Entry.objects.ready().filter(digest_id=digest_id).exists():
        raise DeliveryError("the digest has no ready entry to send")


def begin_send(*, digest_id: int, from_statuses: tuple[str, ...]) -> bool:
    """Flip the digest to sending, before its audience is fixed; False when another trigger won."""
    check_sendable(digest_id=digest_id)
    # Conditional update: of two triggers at once (double click, beat and the command),
    # exactly one changes the row; the other sees 0 and leaves.
    return bool(
        Digest.objects.filter(pk=digest_id, status__in=from_statuses, planned_at__isnull=True).update(
            status=Digest.Status.SENDING, sent_at=None, status_note="", updated_at=timezone.now()
        )
    )


def plan_send(*, digest_id: int) -> int:
    """Fix the audience of a digest already flipped to sending (or paused since); the readers queued.

    Runs at most once per digest: later calls (a retried task, the sweep) find it planned.
    """
    try:
        with transaction.atomic():
            digest = (
                Digest.objects.select_for_update()
                .filter(pk=digest_id, planned_at=None)
                .filter(status__in=[Digest.Status.SENDING, Digest.Status.PAUSED])
                .first()
            )
            if digest is None:
                return 0
            queued = create_deliveries(digest=digest)
            Digest.objects.filter(pk=digest_id).update(planned_at=timezone.now())
            transaction.on_commit(lambda: enqueue_due(digest_id=digest_id))
            transaction.on_commit(lambda: finish_if_done(digest_id=digest_id))
    except Exception as exc:
        # Nothing was written (the transaction rolled back): pause, say why; resume plans again.
        note = f"planning failed: {type(exc).__name__}: {exc}"[:2000]
        Digest.objects.filter(pk=digest_id, status=Digest.Status.SENDING).update(
            status=Digest.Status.PAUSED, status_note=note
        )
        mail_admins(f"digest {digest_id} paused", note, fail_silently=True)
        raise
    logger.info("digest %s: %s readers queued", digest.date, queued)
    return queued


def unplanned_digests(*, older_than: datetime.timedelta) -> list[int]:
    """Sending digests whose planning task was lost (a worker died before it ran)."""
    return list(
        Digest.objects.filter(
            status=Digest.Status.SENDING, planned_at=None, updated_at__lt=timezone.now() - older_than
        ).values_list("pk", flat=True)
    )


def start_send(*, digest_id: int, from_statuses: tuple[str, ...] = Digest.UNSENT_STATUSES) -> int:
    """Flip to sending and fix the audience in this process; the readers queued (0 when another won).

    No permission check: callers are beat (a schedule someone allowed) and the delivery
    functions in schedule.py that checked it; editors' actions go through those.
    """
    if not begin_send(digest_id=digest_id, from_statuses=from_statuses):
        return 0
    return plan_send(digest_id=digest_id)


# What makes two readers' emails differ: the entries (from their tags), the language and
# whether abstracts are included. Readers sharing one are sent one rendering.
VariantSpec = tuple[tuple[int, ...], str, bool]


def variant_key(entry_ids: tuple[int, ...], language: str, include_abstracts: bool = True) -> str:
    """A short stable name for (entries, language, abstracts); with abstracts, the name it always had."""
    name = f"{language}:{','.join(map(str, entry_ids))}" + ("" if include_abstracts else ":no-abstracts")
    return hashlib.sha1(name.encode()).hexdigest()


def matching_entries(
    reader_tags: frozenset[int], entries: list[tuple[int, frozenset[int]]]
) -> tuple[int, ...]:
    """The entry ids (in the editor's order) a reader with these tags gets; no tags means all."""
    if not reader_tags:
        return tuple(entry_id for entry_id, _ in entries)
    return tuple(entry_id for entry_id, tags in entries if tags & reader_tags)


def active_readers(
    chunk_size: int = AUDIENCE_CHUNK,
) -> Iterator[list[tuple[int, str, bool, frozenset[int]]]]:
    """Active readers as (id, language, include_abstracts, tag ids), a chunk at a time (flat memory)."""
    through = Subscriber.tags.through
    last = 0
    while True:
        chunk = list(
            Subscriber.objects.active()
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "language", "include_abstracts")[:chunk_size]
        )
        if not chunk:
            return
        last = chunk[-1][0]
        tags: dict[int, set[int]] = defaultdict(set)
        for subscriber_id, tag_id in through.objects.filter(
            subscriber_id__gte=chunk[0][0], subscriber_id__lte=last
        ).values_list("subscriber_id", "tag_id"):
            tags[subscriber_id].add(tag_id)
        yield [(pk, language, abstracts, frozenset(tags.get(pk, ()))) for pk, language, abstracts in chunk]


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
    variants: Counter[VariantSpec] = Counter()
    skipped = 0
    for chunk in active_readers():
        for _, language, abstracts, tags in chunk:
            matched = matching_entries(tags, entries)
            if matched:
                variants[(matched, language, abstracts)] += 1
            else:
                skipped += 1
    by_language: Counter[str] = Counter()
    for (_, language, _), count in variants.items():
        by_language[language] += count
    return {
        "readers": sum(variants.values()),
        "variants": len(variants),
        "skipped": skipped,
        "by_language": {language: by_language[language] for language in ("ko", "en", "both")},
        "by_variant": [
            {"entry_ids": list(ids), "language": language, "include_abstracts": abstracts, "readers": count}
            for (ids, language, abstracts), count in variants.most_common()
        ],
    }


def entries_for_reader(*, digest: Digest, tag_ids: frozenset[int]) -> tuple[int, ...]:
    """The ready entries a reader of these tags would get (no tags: every tag), as delivery picks them."""
    return matching_entries(tag_ids, ready_entries(digest))


def digest_checks(digest: Digest) -> list[str]:
    """What the editor should know before sending: entries not ready, commentary missing in a language."""
    checks = []
    entries = list(digest.ordered_entries().only("title", "status", "commentary_ko", "commentary_en"))
    drafts = [entry.title for entry in entries if entry.status != Entry.Status.READY]
    if drafts:
        checks.append(f"{len(drafts)} entries are not ready and will not be sent: " + "; ".join(drafts))
    for entry in entries:
        if entry.status != Entry.Status.READY:
            continue
        texts = (("Korean", entry.commentary_ko), ("English", entry.commentary_en))
        missing = [name for name, text in texts if not text.strip()]
        if missing:
            checks.append(f"“{entry.title}” has no {' or '.join(missing)} commentary.")
    if not any(entry.status == Entry.Status.READY for entry in entries):
        checks.append("No entry is ready: there is nothing to send.")
    return checks


def create_deliveries(*, digest: Digest) -> int:
    """Fix the audience: one Delivery row per active reader, each variant rendered once."""
    global render_count
    entries = ready_entries(digest)
    email_entries = email_entries_for(digest)
    matches: dict[frozenset[int], tuple[int, ...]] = {}
    variants: dict[VariantSpec, int] = {}
    readers: Counter[int] = Counter()
    queued = 0
    for chunk in active_readers():
        rows = []
        for subscriber_id, language, abstracts, tags in chunk:
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
            spec = (matched, language, abstracts)
            if spec not in variants:
                rendered = render_variant(
                    digest=digest,
                    entry_ids=list(matched),
                    language=language,
                    include_abstracts=abstracts,
                    email_entries=email_entries,
                )
                render_count += 1
                variants[spec] = DigestVariant.objects.create(
                    digest=digest,
                    key=variant_key(matched, language, abstracts),
                    language=language,
                    include_abstracts=abstracts,
                    entry_ids=list(matched),
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                ).pk
            variant_id = variants[spec]
            readers[variant_id] += 1
            rows.append(Delivery(digest=digest, subscriber_id=subscriber_id, variant_id=variant_id))
            queued += 1
        Delivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    for variant_id, count in readers.items():
        DigestVariant.objects.filter(pk=variant_id).update(reader_count=count)
    return queued
