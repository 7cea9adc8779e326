"""Forms of the admin editor: one-line authors and tags, the import page, the arXiv look-up.

Every text field refuses control characters and text longer than its limit (models.py), with a
message saying what to fix, so nothing the admin stores can break a page, a feed or an email.

Forms only validate and convert; saving tags and importing happen in admin/__init__.py and admin/views.py.
"""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from digest_site.uploads import upload_too_large
from newsletters.models import (
    ABSTRACT_MAX_CHARS,
    AUTHOR_MAX_CHARS,
    COMMENTARY_MAX_CHARS,
    IMPORT_MAX_BYTES,
    INTRO_MAX_CHARS,
    MAX_AUTHORS,
    TAG_DESCRIPTION_MAX_CHARS,
    TITLE_MAX_CHARS,
    Digest,
    Entry,
    Tag,
    describe_control_character,
    find_control_character,
)
from newsletters.rendering import render_markdown

# Lowercase letters, digits, dashes (and underscores, which the text format allows) and Hangul.
TAG_CHARS = r"a-z0-9_\-\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3"
TAG_SLUG_RE = re.compile(rf"^[{TAG_CHARS}]+$")
NOT_TAG_CHARS_RE = re.compile(rf"[^{TAG_CHARS}]+")
TAG_SEPARATORS_RE = re.compile(r"[\s,]+")


def parse_authors(text: str) -> list[str]:
    """Split "A, B, Yang (Katie)Zhao" on commas outside parentheses, keeping names whole."""
    names, current, depth = [], [], 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))
    return [" ".join(name.split()) for name in names if name.strip()]


def format_authors(authors: list[str] | str | None) -> str:
    """The one-line form of an author list, as the digest text writes it."""
    if not authors:
        return ""
    if isinstance(authors, str):
        return authors
    return ", ".join(authors)


def parse_tag_line(text: str) -> list[str]:
    """Slugs from "#rl #reasoning" or "rl, reasoning", in order, without repeats."""
    tokens = [token.lstrip("#") for token in TAG_SEPARATORS_RE.split(text)]
    return list(dict.fromkeys(token for token in tokens if token))


def format_tag_line(slugs: list[str]) -> str:
    return " ".join(f"#{slug}" for slug in slugs)


def refuse_control_characters(value: str | list[str] | None) -> None:
    """Validator: no control characters but tab and newline (see models.CONTROL_CHARACTERS)."""
    text = format_authors(value) if isinstance(value, list) else value or ""
    match = find_control_character(text)
    if match:
        raise ValidationError(
            _(
                "This text holds %(what)s at character %(position)d, which readers cannot see and feeds"
                " cannot carry; delete it (copying from a PDF or a terminal can leave such characters"
                " behind)."
            ),
            params={"what": describe_control_character(match.group()), "position": match.start() + 1},
            code="control_character",
        )


def text_length(value: str) -> int:
    """Characters as stored by the text import: a browser's CRLF line ends count as one."""
    return len(value.replace("\r\n", "\n"))


class MaxCharsValidator:
    """Refuse text longer than `limit` characters, saying by how much."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, value: str) -> None:
        length = text_length(value or "")
        if length > self.limit:
            raise ValidationError(
                _(
                    "This text is longer than the limit of %(limit)s characters (it has %(length)s);"
                    " shorten it."
                ),
                params={"limit": f"{self.limit:,}", "length": f"{length:,}"},
                code="max_length",
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaxCharsValidator) and other.limit == self.limit


class PlainTextFormMixin:
    """Adds the input rules to a form: no control characters in any text, and `text_limits`."""

    text_limits: dict[str, int] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.CharField):
                field.validators.append(refuse_control_characters)
            if name in self.text_limits:
                field.validators.append(MaxCharsValidator(self.text_limits[name]))


class AuthorsField(forms.CharField):
    """One line of authors in the form; an ordered list of names in the model."""

    def prepare_value(self, value: list[str] | str | None) -> str:
        return format_authors(value)

    def to_python(self, value: str | None) -> list[str]:
        return parse_authors(super().to_python(value) or "")

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > MAX_AUTHORS:
            raise ValidationError(
                _("At most %(limit)s authors, please (this has %(count)s)."),
                params={"limit": f"{MAX_AUTHORS:,}", "count": f"{len(value):,}"},
                code="max_length",
            )
        long_names = [name for name in value if len(name) > AUTHOR_MAX_CHARS]
        if long_names:
            raise ValidationError(
                _(
                    "An author name is longer than %(limit)s characters: “%(start)s…”. Separate the names"
                    " with commas."
                ),
                params={"limit": AUTHOR_MAX_CHARS, "start": long_names[0][:40]},
                code="max_length",
            )


class TagLineField(forms.CharField):
    """Tags typed as "#rl #reasoning"; cleans to the ordered list of slugs."""

    def to_python(self, value: str | None) -> list[str]:
        return parse_tag_line(super().to_python(value) or "")

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        errors = []
        for slug in value:
            if len(slug) > 64:
                errors.append(
                    ValidationError(_("#%(slug)s is longer than 64 characters."), params={"slug": slug})
                )
            elif not TAG_SLUG_RE.match(slug):
                hint = NOT_TAG_CHARS_RE.sub("-", slug.lower()).strip("-")
                message = _(
                    "#%(slug)s is not a valid tag: use lowercase letters, digits, dashes or Hangul"
                    " (for example #state-space-model)."
                )
                if hint:
                    message = message + " " + _("Did you mean #%(hint)s?")
                errors.append(ValidationError(message, params={"slug": slug, "hint": hint}, code="invalid"))
        if errors:
            raise ValidationError(errors)


class MarkdownPreviewTextarea(forms.Textarea):
    """A textarea with a live preview under it, rendered by the server's render_markdown."""

    def __init__(self, *, lang: str, attrs: dict | None = None) -> None:
        super().__init__(attrs={"rows": 10, "lang": lang, "class": "md-source", **(attrs or {})})
        self.lang = lang

    def render(self, name: str, value: str | None, attrs: dict | None = None, renderer=None) -> str:
        textarea = super().render(name, value, attrs, renderer)
        source_id = (attrs or {}).get("id", f"id_{name}")
        return format_html(
            '<div class="md-editor">{}<div class="md-preview-label" id="{}_preview_label">{}</div>'
            '<div class="md-preview reader-text" id="{}_preview" lang="{}" data-source="{}" data-url="{}"'
            ' aria-live="polite" aria-labelledby="{}_preview_label">{}</div></div>',
            textarea,
            source_id,
            _("Preview: what readers see"),
            source_id,
            self.lang,
            source_id,
            reverse("admin:newsletters_entry_preview"),
            source_id,
            mark_safe(render_markdown(value or "")),  # render_markdown's output is sanitised
        )


class EntryAdminForm(PlainTextFormMixin, forms.ModelForm):
    text_limits = {
        "title": TITLE_MAX_CHARS,
        "abstract": ABSTRACT_MAX_CHARS,
        "commentary_ko": COMMENTARY_MAX_CHARS,
        "commentary_en": COMMENTARY_MAX_CHARS,
    }
    authors = AuthorsField(
        label=_("Authors"),
        required=False,
        widget=forms.TextInput(attrs={"class": "vLargeTextField authors-line"}),
        help_text=_('One line, separated by commas: "Ada Lovelace, Yang (Katie)Zhao".'),
    )
    source_url = forms.URLField(label=_("Source URL"), max_length=500, required=False, assume_scheme="https")
    tag_line = TagLineField(
        label=_("Tags"),
        required=False,
        widget=forms.TextInput(
            attrs={
                "class": "vLargeTextField tag-line",
                "autocomplete": "off",
                "placeholder": "#rl #reasoning",
            }
        ),
        help_text=_("In order, e.g. #rl #reasoning (or rl, reasoning). Unknown tags are created on save."),
    )

    class Meta:
        model = Entry
        fields = [
            "digest",
            "position",
            "status",
            "title",
            "authors",
            "abstract",
            "source_url",
            "arxiv_id",
            "commentary_ko",
            "commentary_en",
        ]
        labels = {"arxiv_id": "arXiv id"}
        widgets = {
            "title": forms.TextInput(attrs={"class": "vLargeTextField"}),
            "abstract": forms.Textarea(attrs={"rows": 5}),
            "commentary_ko": MarkdownPreviewTextarea(lang="ko"),
            "commentary_en": MarkdownPreviewTextarea(lang="en"),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "tag_line" not in self.initial:
            self.initial["tag_line"] = format_tag_line([tag.slug for tag in self.instance.ordered_tags()])
        elif isinstance(self.initial.get("tag_line"), list):
            self.initial["tag_line"] = format_tag_line(self.initial["tag_line"])

    def clean_arxiv_id(self) -> str:
        arxiv_id = self.cleaned_data["arxiv_id"].strip()
        if not arxiv_id:
            return arxiv_id
        other = (
            Entry.objects.filter(arxiv_id=arxiv_id)
            .exclude(pk=self.instance.pk)
            .select_related("digest")
            .first()
        )
        if other is not None:
            raise ValidationError(duplicate_arxiv_message(other), code="unique")
        return arxiv_id


def duplicate_arxiv_message(other: Entry) -> str:
    """A friendly "already in digest 2025-05-20" with links to that digest and entry."""
    entry_url = reverse("admin:newsletters_entry_change", args=[other.pk])
    if other.digest is None:
        return format_html(
            _('This arXiv paper is already an entry: <a href="{}">{}</a> (not in a digest yet).'),
            entry_url,
            other.title,
        )
    digest_url = reverse("admin:newsletters_digest_change", args=[other.digest.pk])
    return format_html(
        _('This arXiv paper is already in digest <a href="{}">{}</a>: <a href="{}">{}</a>.'),
        digest_url,
        other.digest.date.isoformat(),
        entry_url,
        other.title,
    )


class DigestAdminForm(PlainTextFormMixin, forms.ModelForm):
    text_limits = {"intro_ko": INTRO_MAX_CHARS, "intro_en": INTRO_MAX_CHARS}

    class Meta:
        model = Digest
        fields = ["date", "date_format", "intro_ko", "intro_en"]


class TagAdminForm(PlainTextFormMixin, forms.ModelForm):
    text_limits = {"description": TAG_DESCRIPTION_MAX_CHARS}

    class Meta:
        model = Tag
        fields = ["slug", "name", "description"]


class TagMergeForm(forms.Form):
    """Which tag the selected tags become (any other tag)."""

    into = forms.ModelChoiceField(queryset=Tag.objects.none(), label=_("Merge into"), to_field_name="slug")

    def __init__(self, *args, sources: list[Tag], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["into"].queryset = Tag.objects.exclude(pk__in=[tag.pk for tag in sources]).order_by(
            "slug"
        )


# A day is a few dozen kilobytes; this is far above any real one and keeps a runaway paste cheap.
MAX_IMPORT_CHARS = IMPORT_MAX_BYTES


class DigestImportForm(forms.Form):
    text = forms.CharField(
        label=_("Digest text"),
        required=False,
        strip=False,
        max_length=MAX_IMPORT_CHARS,
        widget=forms.Textarea(attrs={"rows": 20, "class": "digest-text", "spellcheck": "false"}),
        help_text=_("Paste a whole day: the date line, then each entry ending with its #tag line."),
    )
    file = forms.FileField(label=_("…or upload a .txt file"), required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("text", "").strip() and not cleaned.get("file"):
            raise ValidationError(_("Paste the digest text or choose a file."), code="required")
        return cleaned

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload_too_large(upload, MAX_IMPORT_CHARS):
            raise ValidationError(
                _("The file is larger than %(limit)s bytes; a day's digest is much smaller."),
                params={"limit": f"{MAX_IMPORT_CHARS:,}"},
                code="max_length",
            )
        return upload


class ArxivLookupForm(forms.Form):
    arxiv = forms.CharField(
        label=_("arXiv id or URL"),
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "2506.01939 or https://arxiv.org/abs/2506.01939"}),
    )
