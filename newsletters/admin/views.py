"""Admin-only views of the editor: markdown preview, tag autocomplete, text import, arXiv look-up.

Each view parses the request, calls one function (render_markdown, plan/apply_digest_import,
fetch_arxiv_paper) and renders or redirects. admin/__init__.py wires them into the admin's URLs
behind admin_site.admin_view, so all of them are staff-only and CSRF-protected.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from newsletters.admin.forms import (
    MAX_IMPORT_CHARS,
    ArxivLookupForm,
    DigestImportForm,
    duplicate_arxiv_message,
    format_authors,
)
from newsletters.authoring import repeats
from newsletters.authoring.arxiv import ArxivError, ArxivIdError, ArxivNotFound, ArxivPaper, fetch_arxiv_paper
from newsletters.authoring.importing import (
    DigestLockedError,
    ImportPlan,
    ImportResult,
    StaleImportError,
    apply_digest_import,
    plan_digest_import,
)
from newsletters.authoring.textformat import DigestFormatError
from newsletters.models import Digest, Entry, Tag
from newsletters.rendering import render_markdown
from newsletters.tasks import find_missing_arxiv_ids_after_commit


def find_earlier_appearances(entry: Entry) -> list[Entry]:
    """Entries of earlier digests with this entry's arXiv id or (normalised) title, newest first."""
    return repeats.find_earlier_appearances(
        title=entry.title,
        arxiv_id=entry.arxiv_id,
        before=entry.digest.date if entry.digest_id else None,
        exclude_pk=entry.pk,
    )


def earlier_appearance_links(entries: list[Entry]) -> str:
    """HTML: "2025-05-20 (entry)" links to each earlier digest and entry."""
    return format_html_join(
        ", ",
        '<a href="{}">{}</a> (<a href="{}">{}</a>)',
        (
            (
                reverse("admin:newsletters_digest_change", args=[other.digest_id]),
                other.digest.date.isoformat(),
                reverse("admin:newsletters_entry_change", args=[other.pk]),
                _("entry"),
            )
            for other in entries
        ),
    )


@require_POST
def preview_markdown(request: HttpRequest) -> JsonResponse:
    """The reader's HTML for one commentary, as the editor types it."""
    return JsonResponse({"html": render_markdown(request.POST.get("text", ""))})


@require_GET
def tag_autocomplete(request: HttpRequest) -> JsonResponse:
    """Existing tags starting with (or named like) q, most used first."""
    query = request.GET.get("q", "").strip().lstrip("#")
    tags = Tag.objects.annotate(entry_count=Count("entry_tags"))
    if query:
        tags = tags.filter(Q(slug__istartswith=query) | Q(name__icontains=query))
    tags = tags.order_by("-entry_count", "slug")[:20]
    return JsonResponse(
        {"results": [{"slug": tag.slug, "name": tag.display_name, "count": tag.entry_count} for tag in tags]}
    )


IMPORT_PREVIEW_SALT = "newsletters.import-preview"
IMPORT_PREVIEW_MAX_AGE = 60 * 60
STALE_PREVIEW = gettext_lazy(
    "The day changed since the preview (or the preview is too old). Check the changes below again,"
    " then confirm."
)


def import_digest(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Paste or upload a day's digest text; an existing day shows its changes first, applied on Confirm.

    The confirm form carries the text (only ever re-parsed) and a signed fingerprint of the plan
    that was previewed: the day as stored plus the text. If either differs now, nothing is applied
    and the current changes are previewed again, so a double click or another editor's save never
    applies something the editor did not see.
    """
    if not (model_admin.has_add_permission(request) and model_admin.has_change_permission(request)):
        raise PermissionDenied
    form = DigestImportForm(request.POST or None, request.FILES or None)
    error_detail = plan = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload:
            # At most one byte past the limit: plan_digest_import refuses anything longer.
            data, filename = upload.read(MAX_IMPORT_CHARS + 1), upload.name
            shown_text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        else:
            data = shown_text = form.cleaned_data["text"]
            filename = None
        try:
            plan = plan_digest_import(data, filename=filename)
            plan.check_not_sending()
            confirmed = request.POST.get("confirm") == "1"
            if confirmed and not _previewed(request.POST.get("plan", ""), plan):
                form.add_error(None, STALE_PREVIEW)
            elif confirmed or not plan.needs_confirmation():
                result = apply_digest_import(plan, user=request.user, force=confirmed)
                find_missing_arxiv_ids_after_commit(result.digest.pk)
                messages.success(request, import_summary(result))
                return redirect("admin:newsletters_digest_change", result.digest.pk)
        except DigestFormatError as error:
            where = {"line": error.line, "message": error.message}
            form.add_error(None, _("line %(line)d: %(message)s") % where)
            error_detail = _quoted_line(shown_text, error.line)
        except DigestLockedError as error:
            form.add_error(None, str(error))
            plan = None
        except StaleImportError:
            form.add_error(None, STALE_PREVIEW)
            plan = plan_digest_import(data, filename=filename)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Import digest text"),
        "form": form,
        "error_detail": error_detail,
    }
    if plan is not None:
        context.update(
            title=_("Check the changes to %(date)s") % {"date": plan.parsed.date.isoformat()},
            plan=plan,
            rows=_preview_rows(plan),
            pasted_text=shown_text,
            plan_token=signing.TimestampSigner(salt=IMPORT_PREVIEW_SALT).sign(plan.fingerprint),
        )
    return TemplateResponse(request, "admin/newsletters/digest/import.html", context)


def _previewed(token: str, plan: ImportPlan) -> bool:
    """Whether the token was signed here, lately, for exactly this plan (this text over this day)."""
    try:
        signed = signing.TimestampSigner(salt=IMPORT_PREVIEW_SALT).unsign(
            token, max_age=IMPORT_PREVIEW_MAX_AGE
        )
    except signing.BadSignature:
        return False
    return constant_time_compare(signed, plan.fingerprint)


PREVIEW_ACTIONS = {
    "create": gettext_lazy("New"),
    "update": gettext_lazy("Changed"),
    "unchanged": gettext_lazy("Unchanged"),
    "remove": gettext_lazy("Deleted"),
    "withdraw": gettext_lazy("Withdrawn (readers received it: its page will answer 410 Gone)"),
}


def _preview_rows(plan: ImportPlan) -> list[dict]:
    """The plan as the preview shows it: one row per entry, with its changes and earlier appearances."""
    return [
        {
            "action": planned.action,
            "label": PREVIEW_ACTIONS[planned.action],
            "title": planned.title,
            "position": planned.position,
            "entry": planned.entry,
            "changes": planned.changes,
            "earlier": earlier_appearance_links(earlier) if earlier else "",
        }
        for planned, earlier in zip(plan.entries, plan.earlier_appearances(), strict=True)
    ]


def _quoted_line(text: str, line: int) -> dict | None:
    """The offending line of the text, to show under the error."""
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        return {"number": line, "text": lines[line - 1]}
    return None


def import_summary(result: ImportResult) -> str:
    """ "Created digest 2025-07-10 with 11 entries" or what an update changed."""
    date = result.digest.date.isoformat()
    if result.created:
        total = result.entries_created
        return ngettext(
            "Created digest %(date)s with %(count)d entry.",
            "Created digest %(date)s with %(count)d entries.",
            total,
        ) % {"date": date, "count": total}
    return _("Updated digest %(date)s: %(created)d created, %(updated)d updated, %(removed)d removed.") % {
        "date": date,
        "created": result.entries_created,
        "updated": result.entries_updated,
        "removed": result.entries_removed,
    }


def _arxiv_initial(paper: ArxivPaper) -> dict[str, str]:
    return {
        "title": paper.title,
        "authors": format_authors(list(paper.authors)),
        "abstract": paper.abstract,
        "source_url": paper.url,
        "arxiv_id": paper.arxiv_id,
    }


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}?{urlencode(params)}" if params else url


@require_POST
def add_from_arxiv(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Look a paper up on arXiv and prefill the entry form (JSON for the page's script)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    wants_json = "application/json" in request.headers.get("Accept", "")
    keep = {key: request.POST[key] for key in ("digest", "position") if request.POST.get(key)}
    add_url = reverse("admin:newsletters_entry_add")
    form = ArxivLookupForm(request.POST)
    if not form.is_valid():
        message = _("Enter an arXiv id or URL, e.g. 2506.01939.")
        if wants_json:
            return JsonResponse({"error": message}, status=400)
        messages.error(request, message)
        return redirect(_with_query(add_url, keep))
    try:
        paper = fetch_arxiv_paper(form.cleaned_data["arxiv"])
    except ArxivError as error:
        status = 400 if isinstance(error, ArxivIdError | ArxivNotFound) else 502
        if wants_json:
            return JsonResponse({"error": str(error)}, status=status)
        # "Could not..." first: the admin capitalises messages, which would give "ArXiv".
        messages.error(request, _("Could not fill from arXiv: %(error)s") % {"error": error})
        return redirect(_with_query(add_url, keep))
    fields = _arxiv_initial(paper)
    existing = Entry.objects.filter(arxiv_id=paper.arxiv_id).select_related("digest").first()
    warning = duplicate_arxiv_message(existing) if existing else ""
    if wants_json:
        return JsonResponse({"fields": fields, "warning": warning})
    if warning:
        messages.warning(request, warning)
    messages.success(
        request,
        _("Filled from arXiv %(id)s. Check the fields, then add your commentary.") % {"id": paper.arxiv_id},
    )
    return redirect(_with_query(add_url, {**keep, **fields}))


def digest_preview(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The digest's entries as readers see them, Korean and English side by side."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    digest = get_object_or_404(Digest, pk=pk)
    entries = digest.ordered_entries().prefetch_related("entry_tags__tag")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Preview of %(digest)s") % {"digest": digest},
        "digest": digest,
        "original": digest,
        "intro_ko": render_markdown(digest.intro_ko),
        "intro_en": render_markdown(digest.intro_en),
        "entries": [
            {
                "entry": entry,
                "authors": format_authors(entry.authors),
                "tags": entry.ordered_tags(),
                "ko": render_markdown(entry.commentary_ko),
                "en": render_markdown(entry.commentary_en),
            }
            for entry in entries
        ],
    }
    return TemplateResponse(request, "admin/newsletters/digest/preview.html", context)
