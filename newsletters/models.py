from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


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


class DigestQuerySet(models.QuerySet):
    def published(self) -> "DigestQuerySet":
        """Digests the public may see: those that went out."""
        return self.filter(status__in=[Digest.Status.SENDING, Digest.Status.SENT])


class Digest(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        CANCELLED = "cancelled", _("cancelled")

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

    def is_editable(self) -> bool:
        """Content may change until the send starts; after that the ledger depends on it."""
        return self.status in (self.Status.DRAFT, self.Status.SCHEDULED, self.Status.CANCELLED)


class EntryQuerySet(models.QuerySet):
    def ready(self) -> "EntryQuerySet":
        return self.filter(status=Entry.Status.READY)


class Entry(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        READY = "ready", _("ready")

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
    commentary_ko = models.TextField(_("Korean commentary"), blank=True)
    commentary_en = models.TextField(_("English commentary"), blank=True)
    # Tags keep the order the editor wrote them in (#rl #reasoning is not #reasoning #rl).
    tags = models.ManyToManyField(
        Tag, verbose_name=_("tags"), related_name="entries", blank=True, through="EntryTag"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.READY)
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
        ]
        indexes = [models.Index(fields=["digest", "position"])]

    def __str__(self) -> str:
        return self.title

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
