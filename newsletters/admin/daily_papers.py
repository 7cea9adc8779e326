"""Add from Hugging Face: the day's Daily Papers listed on a digest, the editor ticks which to add.

GET lists the papers (upvotes, comments, whether this or another digest already has them);
POST reads the day again and adds the ticked papers as draft entries. Both call the authoring
functions (fetch_daily_papers, paper_statuses, add_daily_papers); every failure becomes an
admin message, never a 500. Wired behind admin_site.admin_view (staff-only, CSRF).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from newsletters.authoring.daily_papers import DailyPapersConflict, add_daily_papers, paper_statuses
from newsletters.authoring.hf import HfError, fetch_daily_papers
from newsletters.authoring.importing import DigestLockedError
from newsletters.models import Digest

ENTRY_PERMISSIONS = ("newsletters.add_entry", "newsletters.change_entry")
MAX_SELECTED = 500


def add_from_hf(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """List the digest's day on Hugging Face with checkboxes; add the ticked papers as drafts."""
    digest = get_object_or_404(Digest, pk=pk)
    if not (
        model_admin.has_view_or_change_permission(request, digest)
        and request.user.has_perms(ENTRY_PERMISSIONS)
    ):
        raise PermissionDenied
    change_url = "admin:newsletters_digest_change"
    if request.method == "POST":
        selected = set(request.POST.getlist("papers")[:MAX_SELECTED])
        if not selected:
            messages.warning(request, _("Tick the papers to add first."))
            return redirect("admin:newsletters_digest_from_hf", digest.pk)
        try:
            papers = fetch_daily_papers(digest.date)
            result = add_daily_papers(day=digest.date, papers=papers, only=selected, user=request.user)
        except (HfError, DigestLockedError, DailyPapersConflict) as error:
            messages.error(request, _("Could not add from Hugging Face: %(error)s") % {"error": error})
            return redirect(change_url, digest.pk)
        if result.added:
            count = len(result.added)
            messages.success(
                request,
                ngettext(
                    "Added %(count)d paper from Hugging Face as a draft entry.",
                    "Added %(count)d papers from Hugging Face as draft entries.",
                    count,
                )
                % {"count": count},
            )
        for paper, reason in result.skipped:
            messages.warning(
                request, _("Not added: %(title)s (%(reason)s).") % {"title": paper.title, "reason": reason}
            )
        gone = selected - {paper.arxiv_id for paper in papers}
        if gone:
            messages.warning(
                request,
                _("No longer listed on Hugging Face: %(ids)s.") % {"ids": ", ".join(sorted(gone)[:20])},
            )
        return redirect(change_url, digest.pk)

    try:
        papers = fetch_daily_papers(digest.date)
    except HfError as error:
        messages.error(request, _("Could not read Hugging Face: %(error)s") % {"error": error})
        return redirect(change_url, digest.pk)
    statuses = paper_statuses(papers=papers, digest=digest)
    editable = digest.is_editable()
    if not editable:
        messages.warning(
            request, _("This digest has gone out to readers: papers can no longer be added to it.")
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Add from Hugging Face: %(date)s") % {"date": digest.date.isoformat()},
        "digest": digest,
        "original": digest,
        "editable": editable,
        "rows": [
            {
                "status": status,
                "paper": status.paper,
                "reason": status.reason(digest),
                "existing": status.existing,
                "authors": ", ".join(status.paper.authors),
            }
            for status in statuses
        ],
    }
    return TemplateResponse(request, "admin/newsletters/digest/from_hf.html", context)
