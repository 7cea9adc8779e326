"""The editor's admin: entries with side-by-side commentary, digests with ordered entries, tags.

This module holds the registrations; forms.py validates, views.py holds the editor's tools
(preview, import, arXiv) and delivery.py the send page. None of them decides anything about
sending or importing: they call the authoring and delivery functions.
"""

import functools
import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from newsletters.admin import daily_papers as admin_daily_papers
from newsletters.admin import delivery as admin_delivery
from newsletters.admin import views as admin_views
from newsletters.admin.forms import (
    DigestAdminForm,
    EntryAdminForm,
    TagAdminForm,
    TagMergeForm,
    format_authors,
)
from newsletters.admin.history import HistoryAdminMixin
from newsletters.authoring import permalinks, tags
from newsletters.models import Digest, Entry, Tag


def withdrawn_message(count: int) -> str:
    return ngettext(
        "%(count)d entry was already sent to readers, so it was withdrawn instead of deleted:"
        " its page now answers 410 Gone and it is left out of pages, feeds and future emails.",
        "%(count)d entries were already sent to readers, so they were withdrawn instead of deleted:"
        " their pages now answer 410 Gone and they are left out of pages, feeds and future emails.",
        count,
    ) % {"count": count}


def _tag_list(entry: Entry) -> str:
    return " ".join(f"#{tag.slug}" for tag in entry.ordered_tags())


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    form = TagAdminForm
    list_display = ["slug", "name", "entry_count", "reader_count"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["merge_into"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                entry_count=Count("entry_tags", distinct=True),
                reader_count=Count("subscribers", distinct=True),
            )
        )

    @admin.display(description=_("entries"), ordering="entry_count")
    def entry_count(self, tag: Tag) -> int:
        return tag.entry_count

    @admin.display(description=_("readers"), ordering="reader_count")
    def reader_count(self, tag: Tag) -> int:
        return tag.reader_count

    def has_delete_permission(self, request: HttpRequest, obj: Tag | None = None) -> bool:
        # Deleting a followed tag would make its readers all-topic readers: merge it instead.
        return super().has_delete_permission(request, obj) and not (obj and obj.subscribers.exists())

    def get_deleted_objects(self, objs, request: HttpRequest):
        # The bulk delete shows followed tags as protected (nothing is deleted) instead of a 403.
        deletable, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        followed = tags.tags_followed_by_readers(objs)
        if followed:
            perms_needed = {name for name in perms_needed if name != self.opts.verbose_name}
            protected = [
                *protected,
                *(
                    _("%(tag)s: readers follow it; merge it into another tag instead") % {"tag": tag}
                    for tag in followed
                ),
            ]
        return deletable, counts, perms_needed, protected

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tag]) -> None:
        followed = tags.tags_followed_by_readers(queryset)
        if followed:
            self.message_user(
                request,
                _("Not deleted, because readers follow them: %(tags)s. Merge them into another tag instead.")
                % {"tags": " ".join(str(tag) for tag in followed)},
                messages.ERROR,
            )
        queryset.exclude(pk__in=[tag.pk for tag in followed]).delete()

    # Django offers an action to users with any one of its permissions: merging deletes tags,
    # so "delete" is the one listed, and "change" is checked inside.
    @admin.action(description=_("Merge selected tags into another tag…"), permissions=["delete"])
    def merge_into(self, request: HttpRequest, queryset: QuerySet[Tag]):
        if not self.has_change_permission(request):
            raise PermissionDenied
        sources = list(queryset.order_by("slug"))
        form = TagMergeForm(request.POST if "apply" in request.POST else None, sources=sources)
        if form.is_valid():
            into = form.cleaned_data["into"]
            result = tags.merge_tags(sources=sources, into=into, user=request.user)
            self.message_user(
                request,
                _("Merged %(count)d tags into %(into)s: %(readers)d readers and %(entries)d entries moved.")
                % {
                    "count": result.tags_deleted,
                    "into": into,
                    "readers": result.readers_moved,
                    "entries": result.entries_retagged,
                },
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Merge tags into another tag"),
            "sources": sources,
            "form": form,
        }
        return TemplateResponse(request, "admin/newsletters/tag/merge.html", context)


@admin.register(Entry)
class EntryAdmin(HistoryAdminMixin, admin.ModelAdmin):
    form = EntryAdminForm
    change_form_template = "admin/newsletters/entry/change_form.html"
    list_display = ["title", "digest", "position", "tag_list", "status"]
    list_display_links = ["title"]
    list_filter = ["digest__status", "status", ("tags", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["digest"]
    search_fields = ["title", "authors", "abstract", "commentary_ko", "commentary_en", "arxiv_id"]
    fieldsets = [
        (None, {"fields": [("digest", "position", "status")]}),
        (_("Paper"), {"fields": ["title", "authors", "abstract", ("source_url", "arxiv_id"), "tag_line"]}),
        (_("Commentary"), {"fields": [("commentary_ko", "commentary_en")], "classes": ["commentary"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Entry]:
        return super().get_queryset(request).prefetch_related("entry_tags__tag")

    @admin.display(description=_("tags"))
    def tag_list(self, entry: Entry) -> str:
        return _tag_list(entry)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Entry], search_term: str):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # SQLite stores JSON with non-ASCII escaped ("Tram\u00e8r"), so look for that spelling too.
        escaped = json.dumps(search_term.strip())[1:-1]
        if escaped != search_term.strip():
            found |= queryset.filter(authors__icontains=escaped)
        return found, may_have_duplicates

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("preview/", wrap(admin_views.preview_markdown), name="newsletters_entry_preview"),
            path("tags/", wrap(admin_views.tag_autocomplete), name="newsletters_entry_tags"),
            path(
                "from-arxiv/",
                wrap(functools.partial(admin_views.add_from_arxiv, model_admin=self)),
                name="newsletters_entry_from_arxiv",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict, *args, obj: Entry | None = None, **kwargs
    ):
        context["earlier_appearances"] = admin_views.find_earlier_appearances(obj) if obj else []
        context["tag_autocomplete_url"] = reverse("admin:newsletters_entry_tags")
        context["from_arxiv_url"] = reverse("admin:newsletters_entry_from_arxiv")
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def save_model(self, request: HttpRequest, obj: Entry, form: EntryAdminForm, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if change:
            permalinks.keep_old_keys(
                entry=obj,
                old_title=form.initial.get("title", obj.title),
                old_arxiv_id=form.initial.get("arxiv_id", ""),
            )

    def delete_model(self, request: HttpRequest, obj: Entry) -> None:
        # Readers have this entry's link in their mail: withdraw it (410 Gone) rather than delete it.
        permalinks.remove_entries(entries=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Entry]) -> None:
        deleted, withdrawn = permalinks.remove_entries(entries=list(queryset.select_related("digest")))
        if withdrawn:
            self.message_user(request, withdrawn_message(withdrawn), messages.WARNING)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: int):
        if Entry.objects.filter(pk=obj_id).exists():
            self.message_user(request, withdrawn_message(1), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:newsletters_entry_change", args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)

    def save_related(self, request: HttpRequest, form: EntryAdminForm, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Entry.tags goes through EntryTag (ordered), so it is saved from the one-line field.
        form.instance.set_tags(form.cleaned_data["tag_line"])


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ["position", "title_link", "tag_list", "status", "repeat_notice"]
    readonly_fields = ["title_link", "tag_list", "repeat_notice"]
    extra = 0
    can_delete = False
    show_change_link = False
    classes = ["entry-order"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Entry]:
        return super().get_queryset(request).prefetch_related("entry_tags__tag")

    def has_add_permission(self, request: HttpRequest, obj: Digest | None = None) -> bool:
        return False  # entries are added with the full entry form (or by importing text)

    @admin.display(description=_("title"))
    def title_link(self, entry: Entry) -> str:
        if not entry.pk:
            return ""
        return format_html(
            '<a href="{}">{}</a><br><span class="authors">{}</span>',
            reverse("admin:newsletters_entry_change", args=[entry.pk]),
            entry.title,
            format_authors(entry.authors),
        )

    @admin.display(description=_("tags"))
    def tag_list(self, entry: Entry) -> str:
        return _tag_list(entry) if entry.pk else ""

    @admin.display(description=_("seen before"))
    def repeat_notice(self, entry: Entry) -> str:
        earlier = admin_views.find_earlier_appearances(entry) if entry.pk else []
        if not earlier:
            return ""
        return format_html(
            '<span class="repeat-warning">⚠ {} {}</span>',
            _("also in"),
            admin_views.earlier_appearance_links(earlier),
        )


@admin.register(Digest)
class DigestAdmin(HistoryAdminMixin, admin.ModelAdmin):
    form = DigestAdminForm
    change_list_template = "admin/newsletters/digest/change_list.html"
    change_form_template = "admin/newsletters/digest/change_form.html"
    list_display = ["date", "status", "entry_count", "scheduled_at", "sent_at"]
    list_filter = ["status"]
    date_hierarchy = "date"
    inlines = [EntryInline]
    # The sending state moves only through the delivery page (newsletters/delivery/schedule.py,
    # which checks the send permission); here it is shown, never a form field, so a crafted
    # POST of status or scheduled_at changes nothing.
    readonly_fields = ["status", "scheduled_at", "sent_at"]
    fieldsets = [
        (None, {"fields": [("date", "date_format"), ("status", "scheduled_at", "sent_at")]}),
        (_("Introduction"), {"fields": [("intro_ko", "intro_en")], "classes": ["commentary", "collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Digest]:
        return super().get_queryset(request).annotate(entry_count=Count("entries"))

    @admin.display(description=_("entries"), ordering="entry_count")
    def entry_count(self, digest: Digest) -> int:
        return digest.entry_count

    def has_delete_permission(self, request: HttpRequest, obj: Digest | None = None) -> bool:
        # A day readers received keeps its page and its entries' permalinks: it is never deleted.
        return super().has_delete_permission(request, obj) and not (obj and obj.was_received())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Digest]) -> None:
        kept = [digest for digest in queryset if digest.was_received()]
        if kept:
            self.message_user(
                request,
                _("Not deleted, because readers received them: %(days)s.")
                % {"days": ", ".join(str(digest) for digest in kept)},
                messages.ERROR,
            )
        queryset.exclude(pk__in=[digest.pk for digest in kept]).delete()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "missed": admin_delivery.schedule.missed_digests(),
            "paused": admin_delivery.policies.paused_by_policy(),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "missed": admin_delivery.schedule.missed_digests(),
            "paused": admin_delivery.policies.paused_by_policy(),
            "time_zone": admin_delivery.zone_name(),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "import/",
                wrap(functools.partial(admin_views.import_digest, model_admin=self)),
                name="newsletters_digest_import",
            ),
            path(
                "<int:pk>/preview/",
                wrap(functools.partial(admin_views.digest_preview, model_admin=self)),
                name="newsletters_digest_preview",
            ),
            path(
                "<int:pk>/from-hf/",
                wrap(functools.partial(admin_daily_papers.add_from_hf, model_admin=self)),
                name="newsletters_digest_from_hf",
            ),
            *admin_delivery.delivery_urls(self),
            *super().get_urls(),
        ]
