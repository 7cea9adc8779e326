"""The editor's delivery controls on a digest: previews for any reader, test send, schedule,
send now (after a confirmation), cancel (pause), resume, retry failed, and live progress.

Thin views over newsletters/delivery/: the permission to move a digest is checked there
(schedule.py, ledger.require_send_permission), not here; these views only decide what to show.
"""

import datetime
import functools
import smtplib

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import validate_email
from django.forms import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from newsletters.delivery import ledger, planning, policies, schedule, sending
from newsletters.mail.content import render_variant
from newsletters.mail.rendering import LANGUAGES
from newsletters.models import Digest, Entry, Tag

ACTIONS = ("send-now", "schedule", "cancel", "resume", "retry-failed")


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
        view(test_send, "test_send", "<int:pk>/delivery/test-send/"),
        view(delivery_action, "delivery_action", "<int:pk>/delivery/<str:action>/"),
    ]


def _entry_ids(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part]
    except ValueError:
        raise PermissionDenied from None


def _can_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> None:
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied


def zone_name() -> str:
    """The time zone every time on these pages is in (TIME_ZONE)."""
    return str(timezone.get_default_timezone())


def reader_choice(request: HttpRequest, digest: Digest, data) -> tuple[str, list[Tag], list[int]]:
    """The reader the editor picked (language, tags; no tags = every tag) and the entries they get.

    Explicit entry ids (a variant's row) are taken as given; otherwise delivery's own matching
    picks them, so a preview shows exactly what such a reader would receive.
    """
    language = data.get("language", "both")
    if language not in LANGUAGES:
        raise PermissionDenied
    if data.get("entries"):
        return language, [], _entry_ids(data["entries"])
    slugs = [slug for slug in data.getlist("tags") if slug]
    tags = list(Tag.objects.filter(slug__in=slugs)) if slugs else []
    if slugs and not tags:
        return language, [], []  # tags no entry has ever had: such a reader gets nothing
    matched = planning.entries_for_reader(digest=digest, tag_ids=frozenset(tag.pk for tag in tags))
    return language, tags, list(matched)


def progress_of(digest: Digest) -> dict:
    """The ledger's progress, with no time left unless sending: a paused send is not finishing."""
    progress = ledger.delivery_progress(digest)
    if progress["status"] != Digest.Status.SENDING:
        progress["eta_seconds"] = None
    return progress


def _times(digest: Digest) -> dict[str, str]:
    fmt = "%Y-%m-%d %H:%M"
    return {
        name: timezone.localtime(value).strftime(fmt) if value else ""
        for name, value in (("scheduled_at", digest.scheduled_at), ("sent_at", digest.sent_at))
    }


def delivery_page(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Audience and previews (before the send), live counts and the possible actions (always)."""
    _can_view(request, model_admin)
    digest = get_object_or_404(Digest, pk=pk)
    titles = dict(Entry.objects.filter(digest=digest).values_list("pk", "title"))
    if digest.status in Digest.UNSENT_STATUSES:
        plan = planning.plan_audience(digest=digest)
        variants = plan["by_variant"]
    else:
        plan = None
        variants = [
            {
                "entry_ids": v.entry_ids,
                "language": v.language,
                "include_abstracts": v.include_abstracts,
                "readers": v.reader_count,
            }
            for v in digest.variants.all().only("entry_ids", "language", "include_abstracts", "reader_count")
        ]
    for variant in variants:
        variant["titles"] = [titles.get(entry_id, "?") for entry_id in variant["entry_ids"]]
        variant["ids"] = ",".join(map(str, variant["entry_ids"]))
    progress = progress_of(digest)
    can_send = request.user.has_perm(ledger.SEND_PERMISSION)
    failures = None if plan else policies.failure_summary(digest_id=digest.pk)
    if failures and not request.user.has_perm("subscribers.view_subscriber_email"):
        failures = policies.without_addresses(failures)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Delivery of {digest}",
        "digest": digest,
        "original": digest,
        "plan": plan,
        "variants": variants[:200],
        "more_variants": max(0, len(variants) - 200),
        "progress": progress,
        "can_send": can_send,
        "actions": schedule.available_actions(digest, progress["counts"]) if can_send else [],
        "failure_kinds": schedule.failures_by_kind(digest.pk),
        "all_actions": ACTIONS,
        "times": _times(digest),
        "time_zone": zone_name(),
        "default_time": timezone.localtime(schedule.next_send_time(digest)).strftime("%Y-%m-%dT%H:%M"),
        "progress_url": reverse("admin:newsletters_digest_delivery_progress", args=[digest.pk]),
        "tags": Tag.objects.all(),
        "languages": LANGUAGES,
        "missed": schedule.missed_digests(),
        "paused": policies.paused_by_policy(),
        "failures": failures,
        "complaints": None if plan else policies.complaint_rate(digest.pk),
    }
    return TemplateResponse(request, "admin/newsletters/digest/delivery_page.html", context)


def delivery_progress(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> JsonResponse:
    """Counts by status, rate, time left and the actions now possible, polled by the delivery page."""
    _can_view(request, model_admin)
    digest = get_object_or_404(Digest, pk=pk)
    progress = progress_of(digest)
    digest.status = progress["status"]
    can_send = request.user.has_perm(ledger.SEND_PERMISSION)
    progress["actions"] = schedule.available_actions(digest, progress["counts"]) if can_send else []
    progress["status_display"] = Digest.Status(digest.status).label
    progress["failures"] = schedule.failures_by_kind(digest.pk)
    return JsonResponse(progress)


def variant_preview(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The HTML email a reader of this language and these tags would get (links left as placeholders).

    abstracts=0 shows it as readers who turned abstracts off get it.
    """
    _can_view(request, model_admin)
    digest = get_object_or_404(Digest, pk=pk)
    language, tags, entry_ids = reader_choice(request, digest, request.GET)
    if not entry_ids:
        return HttpResponse(
            "A reader of these tags gets no email from this digest: no ready entry matches.",
            content_type="text/plain; charset=utf-8",
        )
    try:
        rendered = render_variant(
            digest=digest,
            entry_ids=entry_ids,
            language=language,
            include_abstracts=request.GET.get("abstracts") != "0",
        )
    except KeyError:
        raise PermissionDenied from None
    response = HttpResponse(rendered.html)
    response["X-Email-Subject"] = rendered.subject.encode("utf-8").decode("latin-1", "replace")
    response["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:"
    )
    return response


@require_POST
def test_send(request: HttpRequest, pk: int, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Mail a [TEST] copy of a reader's email; to anyone but oneself needs the send permission."""
    _can_view(request, model_admin)
    digest = get_object_or_404(Digest, pk=pk)
    page = reverse("admin:newsletters_digest_delivery", args=[digest.pk])
    to = (request.POST.get("to") or request.user.email or "").strip()
    try:
        validate_email(to)
    except ValidationError:
        messages.error(request, f"Not an email address: {to or '(empty)'}")
        return redirect(page)
    language, _, entry_ids = reader_choice(request, digest, request.POST)
    if not entry_ids:
        messages.error(request, "A reader of these tags gets no email from this digest; nothing sent.")
        return redirect(page)
    try:
        sending.send_test(digest=digest, entry_ids=entry_ids, language=language, to=to, user=request.user)
    except (OSError, smtplib.SMTPException, KeyError, ValueError) as exc:
        messages.error(request, f"The test could not be sent: {exc}")
    else:
        messages.success(request, f"Test sent to {to} (subject marked [TEST]).")
    return redirect(page)


def parse_send_time(value: str) -> datetime.datetime:
    """A datetime-local value in TIME_ZONE (or an ISO time with its own offset); ValueError if garbage."""
    try:
        parsed = datetime.datetime.fromisoformat(value.strip())
    except (ValueError, TypeError):
        raise ValueError(f"Not a date and time: {value[:40]!r}") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    try:
        parsed.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError(f"Not a usable date and time: {value[:40]!r}") from None
    return parsed


@require_POST
def delivery_action(
    request: HttpRequest, pk: int, action: str, *, model_admin: admin.ModelAdmin
) -> HttpResponse:
    """schedule, send-now (confirmed), cancel, resume or retry-failed, through newsletters/delivery."""
    _can_view(request, model_admin)
    if action not in ACTIONS:
        raise PermissionDenied
    digest = get_object_or_404(Digest, pk=pk)
    page = reverse("admin:newsletters_digest_delivery", args=[digest.pk])
    user = request.user
    try:
        if action == "send-now":
            if request.POST.get("confirm") != "yes":
                return confirm_send_now(request, digest, model_admin=model_admin)
            if schedule.send_now(digest_id=digest.pk, user=user):
                messages.success(request, "Sending: the counts below update as the workers go.")
            else:
                digest.refresh_from_db()
                messages.warning(request, f"Nothing started: the digest is {digest.get_status_display()}.")
        elif action == "schedule":
            ledger.require_send_permission(user)
            value = request.POST.get("at", "")
            at = parse_send_time(value) if value else None
            when = schedule.schedule_send(digest_id=digest.pk, user=user, at=at)
            local = timezone.localtime(when)
            messages.success(request, f"Scheduled for {local:%Y-%m-%d %H:%M} ({zone_name()}).")
        elif action == "cancel":
            status = schedule.cancel_send(digest_id=digest.pk, user=user)
            if status == Digest.Status.PAUSED:
                messages.success(
                    request, "Paused: no new message goes out; Resume continues with readers not yet sent to."
                )
            else:
                messages.success(request, "Schedule cancelled: the digest is a draft again.")
        elif action == "resume":
            queued = schedule.resume_send(digest_id=digest.pk, user=user)
            messages.success(request, f"Resumed: {queued} readers not yet sent to are queued again.")
        elif action == "retry-failed":
            queued = schedule.retry_failed(digest_id=digest.pk, user=user)
            messages.success(request, f"{queued} failed deliveries queued again.")
    except planning.DeliveryError as exc:
        messages.error(request, str(exc))
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect(page)


def confirm_send_now(request: HttpRequest, digest: Digest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The step before "send now": who will get what, and what may be wrong with the digest."""
    ledger.require_send_permission(request.user)
    if digest.status not in Digest.UNSENT_STATUSES:
        messages.warning(request, f"Nothing started: the digest is already {digest.get_status_display()}.")
        return redirect(reverse("admin:newsletters_digest_delivery", args=[digest.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Send {digest} now?",
        "digest": digest,
        "original": digest,
        "plan": planning.plan_audience(digest=digest),
        "checks": planning.digest_checks(digest),
    }
    return TemplateResponse(request, "admin/newsletters/digest/confirm_send.html", context)
