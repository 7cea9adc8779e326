"""Subscribers in the admin: search, filters, counts per tag, CSV import and export.

Addresses are personal data: the subscriber list, search, import and export need the
`subscribers.view_subscriber_email` permission on top of the usual model permissions, and
the Editors group has neither. The per-tag counts page shows no addresses and needs only
`subscribers.view_subscriber`. Nothing can be deleted here: readers change state instead.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from digest_site.uploads import upload_too_large
from newsletters.models import Tag

from . import csvfiles
from .models import Subscriber, SubscriberEvent

EMAIL_PERMISSION = "subscribers.view_subscriber_email"


def can_see_addresses(request: HttpRequest) -> bool:
    return request.user.has_perm(EMAIL_PERMISSION)


def tag_counts() -> tuple[list[Tag], int]:
    """Tags with active/all-state subscriber counts, and how many active readers take every tag."""
    active = Q(subscribers__state=Subscriber.Status.ACTIVE)
    tags = list(
        Tag.objects.annotate(
            active_count=Count("subscribers", filter=active), total_count=Count("subscribers")
        ).order_by("-active_count", "slug")
    )
    every_tag = Subscriber.objects.active().filter(tags__isnull=True).count()
    return tags, every_tag


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file (columns: email, language, tags)"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # A file cut at the upload cap (digest_site/uploads.py) must not import its first half.
        if upload_too_large(upload, settings.FILE_UPLOAD_MAX_BYTES):
            raise forms.ValidationError(
                _("The file is larger than %(limit)s bytes; split it and import each part."),
                params={"limit": f"{settings.FILE_UPLOAD_MAX_BYTES:,}"},
                code="max_length",
            )
        return upload


class SubscriberEventInline(admin.TabularInline):
    model = SubscriberEvent
    fields = ["at", "from_state", "to_state", "source", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # The history belongs to the subscriber: whoever may see one may see the other.
        return request.user.has_perm("subscribers.view_subscriber") and can_see_addresses(request)


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "state", "language", "tag_list", "created_at", "confirmed_at"]
    list_filter = ["state", "language", ("tags", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["email"]
    fields = ["email", "state", "language", "tags", "created_at", "state_changed_at", "confirmed_at"]
    readonly_fields = ["email", "state", "created_at", "state_changed_at", "confirmed_at"]
    filter_horizontal = ["tags"]
    inlines = [SubscriberEventInline]
    actions = ["export_csv"]
    change_list_template = "admin/subscribers/subscriber/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description=_("tags"))
    def tag_list(self, subscriber: Subscriber) -> str:
        return " ".join(f"#{tag.slug}" for tag in subscriber.tags.all()) or _("(every tag)")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) and can_see_addresses(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and can_see_addresses(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Readers join through the form (confirmed by email) or a CSV import.
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="subscribers_subscriber_import"),
            path("tag-counts/", view(self.tag_counts_view), name="subscribers_subscriber_tag_counts"),
            *super().get_urls(),
        ]

    @admin.action(description=_("Export selected subscribers as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> HttpResponse:
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
        csvfiles.export_subscribers(queryset.order_by("email"), response)
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (request.user.has_perm("subscribers.add_subscriber") and can_see_addresses(request)):
            raise PermissionDenied
        report = None
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = self.run_import(request, form)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form, "report": report}
        return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)

    def run_import(self, request: HttpRequest, form: ImportForm) -> csvfiles.ImportReport | None:
        try:
            text = form.cleaned_data["file"].read().decode("utf-8-sig")
        except UnicodeDecodeError:
            form.add_error("file", _("The file must be UTF-8 text."))
            return None
        source = f"csv-import:{request.user.get_username()}"[:64]
        report = csvfiles.import_subscribers(text, source=source)
        if report.imported:
            message = _("Imported %(n)d new subscribers.") % {"n": len(report.created)}
            messages.success(request, message)
        else:
            messages.error(request, _("Nothing was imported: fix the rejected rows and upload again."))
        return report

    def tag_counts_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("subscribers.view_subscriber"):
            raise PermissionDenied
        tags, every_tag = tag_counts()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "tags": tags,
            "every_tag": every_tag,
            "active_total": Subscriber.objects.active().count(),
        }
        return TemplateResponse(request, "admin/subscribers/subscriber/tag_counts.html", context)
