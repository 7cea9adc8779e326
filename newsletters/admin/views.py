"""Admin-only views of the editor: markdown preview, tag autocomplete, text import, arXiv look-up.

Each view parses the request, calls one function (render_markdown, import_digest_text,
fetch_arxiv_paper) and renders or redirects. admin/__init__.py wires them into the admin's URLs
behind admin_site.admin_view, so all of them are staff-only and CSRF-protected.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from newsletters.admin.forms import ArxivLookupForm, DigestImportForm, duplicate_arxiv_message, format_authors
from newsletters.authoring.arxiv import ArxivError, ArxivIdError, ArxivNotFound, ArxivPaper, fetch_arxiv_paper
from newsletters.authoring.importing import (
    DigestLockedError,
    ImportResult,
    import_digest_text,
    normalise_title,
)
from newsletters.authoring.textformat import DigestFormatError
from newsletters.models import Digest, Entry, Tag
from newsletters.rendering import render_markdown
from newsletters.tasks import find_missing_arxiv_ids_after_commit


def find_earlier_appearances(entry: Entry) -> list[Entry]:
    """Entries of earlier digests with this entry's arXiv id or (normalised) title, newest first."""
    key = normalise_title(entry.title or "")
    arxiv_id = (entry.arxiv_id or "").strip()
    if not key and not arxiv_id:
        return []
    match = Q()
    if key:
        # Narrow in the database by the longest word, then compare normalised titles here.
        match |= Q(title__icontains=max(key.split(), key=len))
    if arxiv_id:
        match |= Q(arxiv_id=arxiv_id)
    earlier = Entry.objects.filter(match, digest__isnull=False).select_related("digest")
    if entry.pk:
        earlier = earlier.exclude(pk=entry.pk)
    if entry.digest_id:
        earlier = earlier.filter(digest__date__lt=entry.digest.date)
    return [
        other
        for other in earlier.order_by("-digest__date", "position")
        if (arxiv_id and other.arxiv_id == arxiv_id) or (key and normalise_title(other.title) == key)
    ]


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


def import_digest(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Paste or upload a day's digest text; import it whole or store nothing."""

    if not (model_admin.has_add_permission(request) and model_admin.has_change_permission(request)):
        raise PermissionDenied
    form = DigestImportForm(request.POST or None, request.FILES or None)
    error_detail = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload:
            data, filename = upload.read(), upload.name
            shown_text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        else:
            data = shown_text = form.cleaned_data["text"]
            filename = None
        try:
            result = import_digest_text(data, filename=filename, user=request.user)
        except DigestFormatError as error:
            where = {"line": error.line, "message": error.message}
            form.add_error(None, _("line %(line)d: %(message)s") % where)
            error_detail = _quoted_line(shown_text, error.line)
        except DigestLockedError as error:
            form.add_error(None, str(error))
        else:
            find_missing_arxiv_ids_after_commit(result.digest.pk)
            messages.success(request, import_summary(result))
            return redirect("admin:newsletters_digest_change", result.digest.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Import digest text"),
        "form": form,
        "error_detail": error_detail,
    }
    return TemplateResponse(request, "admin/newsletters/digest/import.html", context)


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
