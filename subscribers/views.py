"""Reader-facing pages. A GET never changes anything: mail scanners fetch every link in an
email, so confirming and unsubscribing happen only on POST (the button on the page, or the
mail client's RFC 8058 one-click POST)."""

import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from digest_site.clientip import client_ip

from . import links, ratelimit, subscribing, tokens
from .forms import PreferencesForm, SubscribeForm
from .models import Subscriber

ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")


def ui_language() -> str:
    return (get_language() or settings.LANGUAGE_CODE)[:2]


def subscriber_for(request: HttpRequest, token: str, purpose: str) -> Subscriber | HttpResponse:
    """The subscriber a token names, or the friendly bad/expired-link page (status 400)."""
    try:
        subscriber_id = tokens.read_token(token, purpose)
    except tokens.ExpiredToken:
        return render(
            request, "subscribers/bad_link.html", {"expired": True, "form": SubscribeForm()}, status=400
        )
    except tokens.BadToken:
        return render(
            request, "subscribers/bad_link.html", {"expired": False, "form": SubscribeForm()}, status=400
        )
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return render(
            request, "subscribers/bad_link.html", {"expired": False, "form": SubscribeForm()}, status=400
        )
    return subscriber


@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "subscribers/subscribe.html", {"form": SubscribeForm()})
    allowed = ratelimit.hit(
        "subscribe-ip",
        client_ip(request),
        limit=settings.SUBSCRIBE_RATE_LIMIT,
        window=datetime.timedelta(seconds=settings.SUBSCRIBE_RATE_WINDOW),
    )
    if not allowed:
        return render(request, "subscribers/rate_limited.html", status=429)
    form = SubscribeForm(request.POST)
    if form.is_bot():
        return redirect("subscribers:check_inbox")
    if not form.is_valid():
        return render(request, "subscribers/subscribe.html", {"form": form}, status=400)
    subscribing.request_subscription(
        email=form.cleaned_data["email"],
        language=form.cleaned_data["language"],
        tags=list(form.cleaned_data["tags"]),
        ui_language=ui_language(),
    )
    return redirect("subscribers:check_inbox")


def check_inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/check_inbox.html")


# Token pages: the URL is a credential, so neither browsers nor proxies may keep a copy.
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = subscriber_for(request, token, tokens.CONFIRM)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    active = subscriber.state == Subscriber.Status.ACTIVE
    if not active and not tokens.issued_after(token, subscriber.state_changed_at):
        # A link older than the last change of state (an unsubscribe, a bounce) proves nothing
        # about today: the reader asks for a new one.
        return render(
            request, "subscribers/bad_link.html", {"expired": True, "form": SubscribeForm()}, status=400
        )
    if request.method == "POST":
        subscriber.confirm(source="confirm-link")
        preferences_token = tokens.make_token(subscriber.pk, tokens.PREFERENCES)
        return redirect(reverse("subscribers:preferences", args=[preferences_token]) + "?confirmed=1")
    return render(request, "subscribers/confirm.html", {"subscriber": subscriber})


# The one CSRF-exempt view: RFC 8058 mail clients POST here with no cookie and no CSRF token.
# The signed token in the URL is the only authority, and it acts on its own subscriber only.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = subscriber_for(request, token, tokens.UNSUBSCRIBE)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method != "POST":
        return render(request, "subscribers/unsubscribe.html", {"subscriber": subscriber})
    one_click = request.POST.get(ONE_CLICK_BODY[0]) == ONE_CLICK_BODY[1]
    subscriber.unsubscribe(source="one-click" if one_click else "unsubscribe-link")
    if one_click:
        return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
    context = {"subscriber": subscriber, "preferences_url": links.preferences_url(subscriber)}
    return render(request, "subscribers/unsubscribed.html", context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = subscriber_for(request, token, tokens.PREFERENCES)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    here = reverse("subscribers:preferences", args=[token])
    initial = {
        "language": subscriber.language,
        "tags": subscriber.chosen_tag_slugs(),
        "include_abstracts": subscriber.include_abstracts,
    }
    form = PreferencesForm(initial=initial)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "unsubscribe":
            subscriber.unsubscribe(source="preferences")
            return redirect(here + "?done=unsubscribed")
        if action == "resubscribe":
            if subscriber.state == Subscriber.Status.ACTIVE:
                return redirect(here)
            # Coming back takes a fresh confirmation by email, whatever the reason for leaving:
            # a preference link in an old email (or a forwarded one) is not consent today.
            subscribing.request_confirmation(subscriber, ui_language=ui_language())
            return redirect(here + "?done=confirmation-sent")
        form = PreferencesForm(request.POST)
        if form.is_valid():
            subscriber.set_preferences(
                language=form.cleaned_data["language"],
                tags=list(form.cleaned_data["tags"]),
                include_abstracts=form.cleaned_data["include_abstracts"],
            )
            return redirect(here + "?done=saved")
    context = {
        "subscriber": subscriber,
        "form": form,
        "done": request.GET.get("done", ""),
        "confirmed": request.GET.get("confirmed") == "1",
        "Status": Subscriber.Status,
    }
    return render(request, "subscribers/preferences.html", context, status=400 if form.errors else 200)
