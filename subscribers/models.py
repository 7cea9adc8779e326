"""Readers: their address, language and tags, their state, and every change of state.

Nothing here is ever deleted by the system: a reader who leaves, bounces or complains keeps
their row with a new state, and each change writes a SubscriberEvent.
"""

import datetime

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from newsletters.models import Tag

# RFC 5321's limits, which mail servers enforce: 64 characters before the @, 254 in all.
LOCAL_PART_MAX_CHARS = 64
EMAIL_MAX_CHARS = 254


def invalid_email(message: str = "", **params) -> ValidationError:
    return ValidationError(message or _("Enter a valid email address."), code="invalid", params=params)


def normalise_email(address: str) -> str:
    """The one spelling an address is stored under: trimmed, lower case, ASCII (punycode) domain.

    Raises ValidationError, with a message for the reader, for anything but a single address
    that mail servers take: no quoted local parts, IP literals or encoded words, and at most
    254 characters once the domain is written in ASCII (a short Korean domain can triple).
    """
    address = (address or "").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise invalid_email()
    if local.startswith('"') or "\\" in local:
        raise invalid_email(
            _("Addresses with quotation marks are not accepted; use a plain one such as name@example.com.")
        )
    if domain.startswith("["):
        raise invalid_email(_("Addresses at an IP address are not accepted; use one at a domain name."))
    if not local.isascii() or "=?" in local:
        # Non-ASCII local parts need SMTPUTF8, which most servers lack; "=?...?=" is a MIME
        # encoded word, which mail libraries decode (and choke on) rather than send.
        raise invalid_email(
            _(
                "The part before the @ may only hold Latin letters, digits and . _ + -,"
                " such as name@example.com."
            )
        )
    if len(local) > LOCAL_PART_MAX_CHARS:
        raise invalid_email(
            _("The part before the @ is longer than %(limit)d characters, which mail servers refuse."),
            limit=LOCAL_PART_MAX_CHARS,
        )
    try:
        # "Bücher.example" and "xn--bcher-kva.example" are one domain; store the ASCII form.
        # IDNA 2008 (non-transitional UTS 46), as registries and mail servers resolve names:
        # IDNA 2003 (Django's punycode()) turns "faß.de" into "fass.de", someone else's domain.
        # Label by label, so a name too long as a whole gets the length message below.
        domain = ".".join(
            idna.encode(label, uts46=True, transitional=False).decode("ascii")
            for label in domain.rstrip(".").split(".")
        )
    except (idna.IDNAError, UnicodeError):
        raise invalid_email() from None
    if "." not in domain:
        raise invalid_email(_("Enter an address at a full domain name, such as name@example.com."))
    # Local parts are case-sensitive in theory and never in practice; one reader, one row.
    normalised = f"{local.lower()}@{domain}"
    if len(normalised) > EMAIL_MAX_CHARS:
        raise invalid_email(
            _(
                "This address is too long: written for mail servers it has %(length)d characters, and"
                " they accept at most %(limit)d."
            ),
            length=len(normalised),
            limit=EMAIL_MAX_CHARS,
        )
    try:
        validate_email(normalised)
    except ValidationError:
        raise invalid_email() from None
    return normalised


class SubscriberQuerySet(models.QuerySet):
    def active(self) -> "SubscriberQuerySet":
        """Readers who get the digest: confirmed and neither unsubscribed nor suppressed."""
        return self.filter(state=Subscriber.Status.ACTIVE)

    def with_email(self, address: str) -> "SubscriberQuerySet":
        """The subscriber (if any) for an address in any spelling.

        An address today's rules refuse (stored before them) is still found by its exact
        spelling, so a bounce from it can suppress it.
        """
        try:
            return self.filter(email=normalise_email(address))
        except ValidationError:
            address = (address or "").strip()
            return self.filter(email=address) if address else self.none()


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending confirmation")
        ACTIVE = "active", _("active")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        BOUNCED = "bounced", _("bounced")
        COMPLAINED = "complained", _("complained")

    class Language(models.TextChoices):
        KOREAN = "ko", _("Korean")
        ENGLISH = "en", _("English")
        BOTH = "both", _("Korean and English")

    SUPPRESSED = (Status.BOUNCED, Status.COMPLAINED)

    email = models.EmailField(_("email"), max_length=254, unique=True)
    language = models.CharField(_("language"), max_length=4, choices=Language.choices, default=Language.BOTH)
    # No tags chosen means every tag.
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="subscribers", blank=True)
    # Off: the email carries titles and commentary only; the abstract is a click away on the site.
    include_abstracts = models.BooleanField(_("include abstracts"), default=True)
    state = models.CharField(_("state"), max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    state_changed_at = models.DateTimeField(_("state changed"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    # When the last confirmation (or "you are subscribed") email was claimed; the per-address
    # limit is a conditional update on this column, so it holds across processes.
    confirmation_sent_at = models.DateTimeField(_("confirmation sent"), null=True, blank=True)
    # Digests in a row whose delivery to this address failed transiently (gave up after every
    # retry, or an ESP soft bounce); a delivery resets it. See suppression.record_soft_bounce.
    soft_bounces = models.PositiveSmallIntegerField(_("soft bounces in a row"), default=0)
    # The day last counted (one count per digest, however many attempts or events) and the
    # errors counted so far, kept for the history when the address is suppressed.
    last_soft_bounce_on = models.DateField(_("last soft bounce"), null=True, blank=True)
    soft_bounce_log = models.JSONField(default=list, blank=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        permissions = [("view_subscriber_email", _("Can see subscribers' email addresses"))]
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return self.email

    @property
    def is_suppressed(self) -> bool:
        return self.state in self.SUPPRESSED

    def chosen_tag_slugs(self) -> list[str]:
        return sorted(tag.slug for tag in self.tags.all())

    def wants_every_tag(self) -> bool:
        return not self.tags.exists()

    def _change_state(self, to_state: str, *, source: str, detail: str = "") -> bool:
        """Move to to_state, writing the history row; False when already there."""
        from_state = self.state
        if from_state == to_state:
            return False
        now = timezone.now()
        with transaction.atomic():
            # Conditional on the state we read, so two concurrent changes cannot both win.
            fields: dict = {"state": to_state, "state_changed_at": now}
            if to_state == self.Status.ACTIVE:
                fields["confirmed_at"] = now
            changed = Subscriber.objects.filter(pk=self.pk, state=from_state).update(**fields)
            if not changed:
                self.refresh_from_db()
                return False
            SubscriberEvent.objects.create(
                subscriber=self,
                at=now,
                from_state=from_state,
                to_state=to_state,
                source=source,
                detail=detail,
            )
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def confirm(self, *, source: str = "confirm-link") -> bool:
        """The reader proved they own the address: they get the digest from now on.

        The only way back to active, from pending, unsubscribed, bounced or complained alike:
        coming back always takes a confirm link emailed after the last change of state.
        """
        return self._change_state(self.Status.ACTIVE, source=source)

    def unsubscribe(self, *, source: str, detail: str = "") -> bool:
        """Stop sending. A bounced or complained address stays suppressed, not merely unsubscribed."""
        if self.is_suppressed:
            return False
        return self._change_state(self.Status.UNSUBSCRIBED, source=source, detail=detail)

    def suppress(self, reason: str, *, source: str, detail: str = "") -> bool:
        """Hard bounce or complaint: nothing more is sent until the address is confirmed again."""
        if reason not in self.SUPPRESSED:
            raise ValueError(f"reason must be 'bounced' or 'complained', not {reason!r}")
        # A complaint outranks a bounce; a bounce never softens a complaint.
        if self.state == self.Status.COMPLAINED:
            return False
        return self._change_state(reason, source=source, detail=detail)

    def set_preferences(
        self, *, language: str, tags: list[Tag], include_abstracts: bool | None = None
    ) -> None:
        """Replace the language and tag choice (no tags means every tag), and the abstracts one if given."""
        if language not in self.Language.values:
            raise ValueError(f"unknown language {language!r}")
        changed = {"language": language}
        if include_abstracts is not None:
            changed["include_abstracts"] = bool(include_abstracts)
        changed = {name: value for name, value in changed.items() if getattr(self, name) != value}
        with transaction.atomic():
            if changed:
                for name, value in changed.items():
                    setattr(self, name, value)
                self.save(update_fields=list(changed))
            self.tags.set(tags)

    def claim_confirmation_email(self, *, interval: datetime.timedelta) -> bool:
        """Claim the right to send this address an email now: at most one per interval.

        A conditional update, so two processes racing for the same address cannot both win.
        """
        now = timezone.now()
        claimed = (
            Subscriber.objects.filter(pk=self.pk)
            .filter(
                models.Q(confirmation_sent_at__isnull=True)
                | models.Q(confirmation_sent_at__lte=now - interval)
            )
            .update(confirmation_sent_at=now)
        )
        if claimed:
            self.confirmation_sent_at = now
        return bool(claimed)


class SubscriberEvent(models.Model):
    """One change of a subscriber's state: when, from what, to what, and who or what caused it."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(_("at"), default=timezone.now)
    from_state = models.CharField(_("from"), max_length=16, choices=Subscriber.Status.choices, blank=True)
    to_state = models.CharField(_("to"), max_length=16, choices=Subscriber.Status.choices)
    # Where the change came from: "subscribe-form", "confirm-link", "one-click", "smtp", "esp:postmark"...
    source = models.CharField(_("source"), max_length=64)
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("subscriber event")
        verbose_name_plural = _("subscriber events")

    def __str__(self) -> str:
        return f"{self.from_state or '-'} → {self.to_state} ({self.source})"


class ProcessedWebhookEvent(models.Model):
    """ESP events already acted on, so a replayed webhook changes nothing."""

    esp_name = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["esp_name", "event_id"], name="processed_webhook_event_unique")
        ]


class RateLimitCounter(models.Model):
    """A shared fixed-window counter (see ratelimit.py): one row per key, bumped by conditional updates."""

    key = models.CharField(max_length=128, unique=True)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
