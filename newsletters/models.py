import re

import reversion
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

SLUG_MAX_LENGTH = 100

# --- Limits of what an editor may store ---------------------------------------------
# One place for every input limit (README "Limits" lists them too): the admin forms, the text
# import, the upload, the commands and the Hugging Face import all check these. Each is far
# above real content (the longest sample title is 113 characters, commentary 1,234, an arXiv
# abstract at most 1,920) and low enough that one entry cannot make a page or an email heavy.
TITLE_MAX_CHARS = 500  # Entry.title's column
ABSTRACT_MAX_CHARS = 20_000
COMMENTARY_MAX_CHARS = 20_000  # each language
INTRO_MAX_CHARS = 20_000  # a digest's introduction, each language
AUTHOR_MAX_CHARS = 300  # one author's name
MAX_AUTHORS = 3000  # collaborations of a few thousand names exist
TAG_DESCRIPTION_MAX_CHARS = 2_000
# A whole day's text file or paste: a real day is a few dozen kilobytes.
IMPORT_MAX_BYTES = 500_000

# Control characters are invisible in an editor, PostgreSQL cannot store NUL, and XML 1.0
# (the feeds) cannot hold most of them: only tab and newline (a carriage return just before a
# newline, as browsers send textareas) are accepted. Also refused: the byte order mark and the
# two non-characters XML forbids. authoring/textformat.py holds the same set for its lines.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]|\r(?!\n)")


def find_control_character(text: str) -> re.Match | None:
    """The first character input may not hold (see CONTROL_CHARACTERS), or None."""
    return CONTROL_CHARACTERS.search(text)


def describe_control_character(char: str) -> str:
    """How a message names the character to delete: "the invisible character U+000B"."""
    if char == "\r":
        return "a carriage return (U+000D) not followed by a newline"
    return f"the invisible character U+{ord(char):04X}"


def slug_base(title: str) -> str:
    """The slug a title gives before any -2, -3 suffix that keeps it unique."""
    return slugify(title, allow_unicode=True)[: SLUG_MAX_LENGTH - 6].strip("-") or "paper"


class Tag(models.Model):
    slug = models.SlugField(_("slug"), max_length=64, unique=True, allow_unicode=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return f"#{self.slug}"

    @property
    def display_name(self) -> str:
        return self.name or self.slug

    def get_absolute_url(self) -> str:
        return reverse("newsletters:tag", kwargs={"slug": self.slug})


class DigestQuerySet(models.QuerySet):
    def published(self) -> "DigestQuerySet":
        """Digests the public may see: those that went out."""
        return self.filter(status__in=Digest.PUBLIC_STATUSES)


class Digest(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        # Cancel pauses a send: rows not yet sent stay queued, unclaimed, until resume.
        PAUSED = "paused", _("paused")
        SENT = "sent", _("sent")
        # Scheduled, but beat found it past DIGEST_MAX_LATENESS (or not the newest due one):
        # never sent automatically; the editor may send it by hand.
        MISSED = "missed", _("missed")
        # Every row is final and not one reader got it (all refused or given up): never "sent",
        # never in the archive. Retry failed sends it again.
        FAILED = "failed", _("failed")

    # "Sent or published": from the moment sending starts, the day is public.
    PUBLIC_STATUSES = (Status.SENDING, Status.PAUSED, Status.SENT)
    # Before the audience is fixed: the content may change and the send may start.
    UNSENT_STATUSES = (Status.DRAFT, Status.SCHEDULED, Status.MISSED)

    class DateFormat(models.TextChoices):
        KOREAN = "ko", "2025년 7월 10일"
        ISO = "iso", "2025-07-10"

    date = models.DateField(_("date"), unique=True)
    # How the date line was written in the imported text, so export gives back the same text.
    date_format = models.CharField(
        _("date line format"), max_length=3, choices=DateFormat.choices, default=DateFormat.KOREAN
    )
    intro_ko = models.TextField(_("introduction (Korean)"), blank=True)
    intro_en = models.TextField(_("introduction (English)"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # When the audience was fixed (variants and ledger rows written); a send is finished only
    # after that, so a send whose planning has not run yet is never marked sent with 0 rows.
    planned_at = models.DateTimeField(_("audience fixed at"), null=True, blank=True)
    # Why the send is paused or missed, in words for the editor ("" when nothing is wrong).
    status_note = models.TextField(_("status note"), blank=True)
    # Configuration-class failures (TLS, login, refused...) in a row during this send; a
    # delivered batch resets it. delivery/policies.py pauses the send when it grows.
    connection_failures = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DigestQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]
        verbose_name = _("digest")
        verbose_name_plural = _("digests")

    def __str__(self) -> str:
        return self.date.isoformat()

    def ordered_entries(self) -> models.QuerySet["Entry"]:
        return self.entries.order_by("position", "pk")

    def get_absolute_url(self) -> str:
        return reverse("newsletters:digest", kwargs={"date": self.date})

    def is_published(self) -> bool:
        return self.status in self.PUBLIC_STATUSES

    def is_editable(self) -> bool:
        """Content may change until the send starts; after that the ledger depends on it."""
        return self.status in self.UNSENT_STATUSES

    def is_protected(self) -> bool:
        """Readers have (or are about to have) this day: changing it needs an explicit confirmation."""
        return self.status in (
            self.Status.SCHEDULED,
            self.Status.SENDING,
            self.Status.PAUSED,
            self.Status.SENT,
            self.Status.MISSED,
        )

    def was_received(self) -> bool:
        """Some reader has this day in their mailbox (a paused send may have delivered some)."""
        if self.is_published():
            return True
        return self.pk is not None and self.deliveries.filter(status=Delivery.Status.SENT).exists()


class EntryQuerySet(models.QuerySet):
    def ready(self) -> "EntryQuerySet":
        """Entries to show and send: ready, and not withdrawn."""
        return self.filter(status=Entry.Status.READY, withdrawn_at__isnull=True)

    def published(self) -> "EntryQuerySet":
        """Ready entries of digests that went out: what the public archive shows."""
        return self.ready().filter(digest__status__in=Digest.PUBLIC_STATUSES)

    def with_listing_data(self) -> "EntryQuerySet":
        """Load the digest and the ordered tags in a fixed number of queries."""
        return self.select_related("digest").prefetch_related("entry_tags__tag")


class Entry(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        READY = "ready", _("ready")

    class Source(models.TextChoices):
        EDITOR = "", _("the editor (text or admin)")
        HUGGING_FACE = "hf", _("Hugging Face Daily Papers")

    digest = models.ForeignKey(
        Digest,
        verbose_name=_("digest"),
        related_name="entries",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    title = models.CharField(_("title"), max_length=500)
    # Ordered list of author names, exactly as written ("Yang (Katie)Zhao" stays whole).
    authors = models.JSONField(_("authors"), default=list, blank=True)
    abstract = models.TextField(_("abstract"), blank=True)
    source_url = models.URLField(_("source URL"), max_length=500, blank=True)
    arxiv_id = models.CharField(_("arXiv id"), max_length=32, blank=True)
    # Where the paper came from; a Hugging Face paper also links to its page there.
    source = models.CharField(_("found on"), max_length=8, choices=Source.choices, default="", blank=True)
    # The permalink of a paper without an arXiv id; filled from the title when left empty.
    slug = models.SlugField(_("slug"), max_length=SLUG_MAX_LENGTH, blank=True, allow_unicode=True)
    commentary_ko = models.TextField(_("Korean commentary"), blank=True)
    commentary_en = models.TextField(_("English commentary"), blank=True)
    # Tags keep the order the editor wrote them in (#rl #reasoning is not #reasoning #rl).
    tags = models.ManyToManyField(
        Tag, verbose_name=_("tags"), related_name="entries", blank=True, through="EntryTag"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.READY)
    # Set instead of deleting an entry readers received: its permalink then answers 410 Gone.
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        constraints = [
            models.UniqueConstraint(
                fields=["arxiv_id"], condition=~Q(arxiv_id=""), name="entry_arxiv_id_unique"
            ),
            models.UniqueConstraint(fields=["slug"], condition=~Q(slug=""), name="entry_slug_unique"),
        ]
        indexes = [models.Index(fields=["digest", "position"])]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        # Only a default: whoever creates an entry (importer, admin, shell) gets a permalink
        # without having to know about slugs; an explicit slug is never changed.
        if not self.slug:
            self.slug = self.unique_slug()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "slug"}
        super().save(*args, **kwargs)

    def unique_slug(self) -> str:
        """A slug made from the title that no other entry uses (paper, paper-2, ...)."""
        base = slug_base(self.title)
        taken = set(
            Entry.objects.filter(slug__startswith=base).exclude(pk=self.pk).values_list("slug", flat=True)
        )
        # Old permalinks of other entries stay theirs: an emailed link must not change paper.
        taken.update(
            OldPermalink.objects.filter(key__startswith=base)
            .exclude(entry_id=self.pk)
            .values_list("key", flat=True)
        )
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        return slug

    @property
    def permalink_key(self) -> str:
        """The arXiv id when known (stable and recognisable), else the slug."""
        if self.arxiv_id:
            return self.arxiv_id
        if not self.slug and self.pk:
            # Rows made with bulk_create skip save(); give them their slug on first use.
            self.slug = self.unique_slug()
            Entry.objects.filter(pk=self.pk, slug="").update(slug=self.slug)
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("newsletters:paper", kwargs={"key": self.permalink_key})

    @property
    def arxiv_abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def arxiv_pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def hf_paper_url(self) -> str:
        """The paper's Hugging Face page, for entries that came from Daily Papers."""
        if self.source == self.Source.HUGGING_FACE and self.arxiv_id:
            return f"https://huggingface.co/papers/{self.arxiv_id}"
        return ""

    def ordered_tags(self) -> list[Tag]:
        """Tags in the editor's order; uses prefetched entry_tags__tag when present."""
        return [entry_tag.tag for entry_tag in self.entry_tags.all()]

    def set_tags(self, slugs: list[str]) -> None:
        """Replace the tags with these slugs, in this order, creating unknown tags."""
        wanted = list(dict.fromkeys(slugs))
        if [entry_tag.tag.slug for entry_tag in self.entry_tags.select_related("tag")] == wanted:
            return
        existing = {tag.slug: tag for tag in Tag.objects.filter(slug__in=wanted)}
        missing = [slug for slug in wanted if slug not in existing]
        if missing:
            # ignore_conflicts: another editor may create the same tag at the same moment.
            Tag.objects.bulk_create([Tag(slug=slug, name=slug) for slug in missing], ignore_conflicts=True)
            existing.update({tag.slug: tag for tag in Tag.objects.filter(slug__in=missing)})
        self.entry_tags.all().delete()
        EntryTag.objects.bulk_create(
            EntryTag(entry=self, tag=existing[slug], position=position)
            for position, slug in enumerate(wanted)
        )
        if reversion.is_active() and reversion.is_registered(Entry):
            # bulk_create sends no signals, and the entry's version (taken when it was saved)
            # still holds the old tags: take it again.
            reversion.add_to_revision(self)

    @property
    def paper_url(self) -> str:
        if self.source_url:
            return self.source_url
        if self.arxiv_id:
            return f"https://arxiv.org/abs/{self.arxiv_id}"
        return ""


class EntryTag(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="entry_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="entry_tags")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["entry", "tag"], name="entry_tag_unique")]

    def __str__(self) -> str:
        return f"{self.entry_id} #{self.tag_id}"


class OldPermalink(models.Model):
    """A key (slug or arXiv id) a paper's page once had; /papers/<key>/ redirects to the current one."""

    key = models.CharField(max_length=SLUG_MAX_LENGTH, unique=True)
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="old_permalinks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.key} → {self.entry_id}"


# --- Delivery ---------------------------------------------------------------------
# The ledger of the daily send (newsletters/delivery/ writes it; nothing else should).


class DigestVariant(models.Model):
    """One rendered email of a digest: the entries a group of readers gets, in their language, with
    or without abstracts.

    Rendered once when the send starts; every worker builds its messages from this row, so the
    number of renders is the number of variants, however many readers share one.
    """

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=40)
    language = models.CharField(max_length=4)
    # The readers' choice: with abstracts (the default) or without; part of the variant's key.
    include_abstracts = models.BooleanField(default=True)
    entry_ids = models.JSONField(default=list)
    subject = models.TextField()
    text = models.TextField()
    html = models.TextField()
    reader_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reader_count", "pk"]
        constraints = [models.UniqueConstraint(fields=["digest", "key"], name="digest_variant_unique")]

    def __str__(self) -> str:
        return f"{self.digest_id} {self.language} {self.entry_ids}"


class Delivery(models.Model):
    """One reader's copy of one digest: queued → sending → sent, or failed / skipped."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    FINAL = (Status.SENT, Status.FAILED, Status.SKIPPED)

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.PROTECT, related_name="deliveries"
    )
    variant = models.ForeignKey(
        DigestVariant, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The token of the worker's claim (see delivery.claim), and when it was taken: the lease.
    claim = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Written every DELIVERY_HEARTBEAT_SECONDS while the claimant is alive: when it stops, the
    # sweep gives the row back in seconds instead of waiting for the lease.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When a task for this row was last put on the broker; the sweep re-enqueues lost ones.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the reader reported this message as spam (an ESP complaint webhook): the complaint
    # rate of a digest is these over its sent rows (delivery/policies.py).
    complained_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["digest", "subscriber"], name="delivery_digest_subscriber_unique")
        ]
        indexes = [
            models.Index(fields=["digest", "status"]),
            models.Index(fields=["claim"]),
            models.Index(fields=["status", "claimed_at"]),
        ]
        permissions = [("send_digest", _("Can send digests"))]

    def __str__(self) -> str:
        return f"{self.digest_id} → {self.subscriber_id}: {self.status}"
