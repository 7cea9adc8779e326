"""Revision history in the admin: each save is recorded; an entry's or digest's versions, diffs, restore.

HistoryAdminMixin goes first in an admin class's bases. Recording and restoring are
authoring/history.py's; this module wires them to requests. GET only shows: restoring is a
POST (CSRF-checked by the admin) and needs the change permission on the row.
"""

from diff_match_patch import diff_match_patch
from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from reversion.models import Version

from newsletters.admin.forms import format_authors, format_tag_line
from newsletters.authoring import history
from newsletters.models import Digest, Entry

# diff-match-patch gives up refining after this many seconds and returns a coarser (still
# correct) diff, so a huge commentary cannot hold the page; each side is then shown whole.
DIFF_TIMEOUT_SECONDS = 0.5


def diff_sides(old: str, new: str) -> tuple[SafeString, SafeString]:
    """HTML of the old text with deletions marked and of the new one with insertions marked."""
    differ = diff_match_patch()
    differ.Diff_Timeout = DIFF_TIMEOUT_SECONDS
    diffs = differ.diff_main(old, new)
    differ.diff_cleanupSemantic(diffs)
    old_parts, new_parts = [], []
    for op, text in diffs:
        text = escape(text)
        if op == diff_match_patch.DIFF_EQUAL:
            old_parts.append(text)
            new_parts.append(text)
        elif op == diff_match_patch.DIFF_DELETE:
            old_parts.append(f"<del>{text}</del>")
        else:
            new_parts.append(f"<ins>{text}</ins>")
    return mark_safe("".join(old_parts)), mark_safe("".join(new_parts))


def version_texts(version: Version) -> dict[str, str]:
    """The restorable fields of a version (and an entry's tags) as the editor writes them."""
    model = version._model
    values = history.stored_values(version)
    texts = {}
    for name, value in values.items():
        field = model._meta.get_field(name)
        if name == "authors":
            value = format_authors(value)
        elif field.choices:
            value = dict(field.flatchoices).get(value, value)
        texts[name] = str(value or "")
    if model is Entry:
        texts["tags"] = format_tag_line([tag.slug for tag in history.stored_tags(version)])
    return texts


def field_diffs(model: type[models.Model], old: Version, new: Version) -> list[dict]:
    """One row per field that differs between the two versions, in the form's order."""
    old_texts, new_texts = version_texts(old), version_texts(new)
    rows = []
    for name in [*history.RESTORED_FIELDS[model], "tags"]:
        if name not in old_texts and name not in new_texts:
            continue
        before, after = old_texts.get(name, ""), new_texts.get(name, "")
        if before == after:
            continue
        label = _("tags") if name == "tags" else model._meta.get_field(name).verbose_name
        old_html, new_html = diff_sides(before, after)
        rows.append({"name": name, "label": label, "old": old_html, "new": new_html})
    return rows


class HistoryAdminMixin:
    """Record every add and change as a revision; history, compare and restore pages."""

    object_history_template = "admin/newsletters/history.html"
    history_compare_template = "admin/newsletters/history_compare.html"

    def history_rows(self, obj: models.Model) -> list[models.Model]:
        """The rows a save of obj may change: their current state is kept if they have no version."""
        if isinstance(obj, Digest):
            return [obj, *obj.entries.all()]  # the inline edits the entries' position and status
        return [obj]

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        before = self.history_rows(obj) if obj is not None else []
        with history.recorded_change(user=request.user, before=before):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def log_addition(self, request, obj, message):
        log_entry = super().log_addition(request, obj, message)
        history.describe_change(log_entry.get_change_message() or _("Added."))
        return log_entry

    def log_change(self, request, obj, message):
        log_entry = super().log_change(request, obj, message)
        history.describe_change(log_entry.get_change_message() or _("No fields changed."))
        return log_entry

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/history/compare/",
                wrap(self.history_compare_view),
                name=f"{prefix}_history_compare",
            ),
            path(
                "<path:object_id>/history/<int:version_id>/restore/",
                wrap(self.history_restore_view),
                name=f"{prefix}_history_restore",
            ),
            *super().get_urls(),
        ]

    def _history_object(self, request: HttpRequest, object_id: str) -> models.Model:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("%(name)s does not exist.") % {"name": self.opts.verbose_name})
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _history_context(self, request: HttpRequest, obj: models.Model, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": str(self.opts.verbose_name_plural).capitalize(),
            "object": obj,
            "title": title,
            "can_restore": self.has_change_permission(request, obj),
            "history_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_history", args=[quote(obj.pk)]
            ),
        }

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        """Every version, newest first: who, when, what; compare each with the one before it."""
        obj = self._history_object(request, object_id)
        versions = list(history.versions_of(obj))
        rows = [
            {"version": version, "older": versions[i + 1] if i + 1 < len(versions) else None}
            for i, version in enumerate(versions)
        ]
        context = {
            **self._history_context(request, obj, _("History: %s") % obj),
            "rows": rows,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.object_history_template, context)

    @method_decorator(require_GET)
    def history_compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Field by field, an older version's text beside a newer one's."""
        obj = self._history_object(request, object_id)
        versions = history.versions_of(obj)
        try:
            old = get_object_or_404(versions, pk=int(request.GET.get("old", "")))
            new = get_object_or_404(versions, pk=int(request.GET.get("new", "")))
        except ValueError as error:
            raise Http404(_("Choose two versions to compare.")) from error
        if old.pk > new.pk:
            old, new = new, old
        try:
            diffs = field_diffs(type(obj), old, new)
        except history.RestoreError as error:
            messages.error(request, str(error))
            return redirect(self._history_context(request, obj, "")["history_url"])
        context = {
            **self._history_context(request, obj, _("Changes to %s") % obj),
            "old": old,
            "new": new,
            "diffs": diffs,
        }
        return TemplateResponse(request, self.history_compare_template, context)

    @method_decorator(require_POST)
    def history_restore_view(self, request: HttpRequest, object_id: str, version_id: int) -> HttpResponse:
        """Put a version back on the row (a new version, by this user)."""
        obj = self._history_object(request, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        version = get_object_or_404(history.versions_of(obj), pk=version_id)
        try:
            history.restore_version(obj=obj, version=version, user=request.user)
        except history.RestoreError as error:
            messages.error(request, str(error))
            return redirect(self._history_context(request, obj, "")["history_url"])
        when = date_format(timezone.localtime(version.revision.date_created), "DATETIME_FORMAT")
        message = _("Restored the version of %(when)s.") % {"when": when}
        self.log_change(request, obj, message)
        messages.success(request, message)
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", quote(obj.pk))
