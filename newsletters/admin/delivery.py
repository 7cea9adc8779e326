"""The editor's delivery controls on a digest: variants and previews, test send, schedule,
send now, cancel, retry failed, and live progress. Thin views over newsletters/delivery/.

Every action that sends or changes what will be sent needs newsletters.send_digest.
"""

import datetime
import functools
import smtplib

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from newsletters.delivery import ledger, planning, schedule, sending
from newsletters.mail.content import render_variant
from newsletters.mail.rendering import LANGUAGES
from newsletters.models import Digest, Entry

SEND_PERMISSION = "newsletters.send_digest"


def delivery_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The URL patterns DigestAdmin.get_urls() adds for these views."""
    wrap = model_admin.admin_site.admin_view

    def view(func, name: str, route: str) -> URLPattern:
        return path(
            route, wrap(functools.partial(func, model_admin=model_admin)), name=f"newsletters_digest_{name}"
        )

    return [
        view(delivery_page, "delivery", "<int:pk>/delivery/"),
        view(delivery_progress, "delivery_progress", "<int:pk>/delivery/progress/"),
        view(variant_preview, "variant_preview", "<int:pk>/delivery/preview/"),
        view(delivery_action, "delivery_action", "<int:pk>/delivery/<str:action>/"),
    ]


def _entry_ids(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part]
    except ValueError:
        raise PermissionDenied from None


def delivery_page(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Variants with reader counts and previews (before the send), live counts (during and after)."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    digest = get_object_or_404(Digest, pk=pk)
    titles = dict(Entry.objects.filter(digest=digest).values_list("pk", "title"))
    if digest.status in (Digest.Status.DRAFT, Digest.Status.SCHEDULED, Digest.Status.CANCELLED):
        plan = planning.plan_audience(digest=digest)
        variants = plan["by_variant"]
    else:
        plan = None
        variants = [
            {"entry_ids": v.entry_ids, "language": v.language, "readers": v.reader_count}
            for v in digest.variants.all().only("entry_ids", "language", "reader_count")
        ]
    for variant in variants:
        variant["titles"] = [titles.get(entry_id, "?") for entry_id in variant["entry_ids"]]
        variant["ids"] = ",".join(map(str, variant["entry_ids"]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Delivery of {digest}",
        "digest": digest,
        "original": digest,
        "plan": plan,
        "variants": variants[:200],
        "more_variants": max(0, len(variants) - 200),
        "progress": ledger.delivery_progress(digest),
        "can_send": request.user.has_perm(SEND_PERMISSION),
        "default_time": timezone.localtime(schedule.default_send_time(digest)).strftime("%Y-%m-%dT%H:%M"),
        "progress_url": reverse("admin:newsletters_digest_delivery_progress", args=[digest.pk]),
    }
    return TemplateResponse(request, "admin/newsletters/digest/delivery_page.html", context)


def delivery_progress(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> JsonResponse:
    """Counts by status, rate and time left, polled by the delivery page."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    return JsonResponse(ledger.delivery_progress(get_object_or_404(Digest, pk=pk)))


def variant_preview(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """One variant's HTML email exactly as rendered for sending (links left as placeholders)."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    digest = get_object_or_404(Digest, pk=pk)
    language = request.GET.get("language", "both")
    if language not in LANGUAGES:
        raise PermissionDenied
    try:
        rendered = render_variant(
            digest=digest, entry_ids=_entry_ids(request.GET.get("entries", "")), language=language
        )
    except KeyError:
        raise PermissionDenied from None
    response = HttpResponse(rendered.html)
    response["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:"
    )
    return response


@require_POST
def delivery_action(
    request: HttpRequest, pk: int, action: str, *, model_admin: admin.ModelAdmin
) -> HttpResponse:
    """schedule, send-now, cancel, retry-failed or test-send; each needs the send permission."""
    if not request.user.has_perm(SEND_PERMISSION):
        raise PermissionDenied
    digest = get_object_or_404(Digest, pk=pk)
    page = reverse("admin:newsletters_digest_delivery", args=[digest.pk])
    if action == "send-now":
        from newsletters.tasks import start_send as start_send_task

        Digest.objects.filter(pk=digest.pk, status=Digest.Status.CANCELLED).update(status=Digest.Status.DRAFT)
        start_send_task.delay(digest.pk)
        messages.success(request, "Sending started: the counts below update as the workers go.")
    elif action == "schedule":
        at = None
        if value := request.POST.get("at"):
            try:
                at = timezone.make_aware(datetime.datetime.fromisoformat(value))
            except ValueError:
                messages.error(request, f"Not a date and time: {value}")
                return redirect(page)
        if schedule.schedule_send(digest_id=digest.pk, at=at):
            digest.refresh_from_db()
            messages.success(
                request, f"Scheduled for {timezone.localtime(digest.scheduled_at):%Y-%m-%d %H:%M}."
            )
        else:
            messages.error(request, f"A {digest.status} digest cannot be scheduled.")
    elif action == "cancel":
        stopped = schedule.cancel_send(digest_id=digest.pk)
        messages.success(request, f"Cancelled; {stopped} readers not yet sent to will get nothing.")
    elif action == "retry-failed":
        queued = schedule.retry_failed(digest_id=digest.pk)
        messages.success(request, f"{queued} failed deliveries queued again.")
    elif action == "test-send":
        language = request.POST.get("language", "both")
        to = request.user.email
        if not to or language not in LANGUAGES:
            messages.error(request, "Your account has no email address to send a test to.")
            return redirect(page)
        try:
            sending.send_test(
                digest=digest, entry_ids=_entry_ids(request.POST.get("entries", "")), language=language, to=to
            )
        except (OSError, smtplib.SMTPException, KeyError, ValueError) as exc:
            messages.error(request, f"The test could not be sent: {exc}")
        else:
            messages.success(request, f"Test sent to {to}.")
    else:
        raise PermissionDenied
    return redirect(page)
