"""The public archive: home, archive, digest, paper, tag and search pages.

Only what went out is public (Digest.objects.published(), Entry.objects.published());
anything else answers 404, except to staff, who see it under a "draft preview" banner. A paper
readers received and the editor withdrew answers 410 Gone; an old key of a paper redirects (301).
"""

import datetime

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from newsletters.archive.search import clean_query, search_entries
from newsletters.authoring.permalinks import find_paper
from newsletters.models import Digest, Entry, Tag
from newsletters.templatetags.commentary import attach_commentary_html

# The reader's choice of commentary language on digest pages, remembered in a cookie.
COMMENTARY_COOKIE = "commentary_lang"
COMMENTARY_LANGUAGES = ("both", "ko", "en")
COMMENTARY_COOKIE_AGE = 365 * 24 * 60 * 60
DIGESTS_PER_PAGE = 30
ENTRIES_PER_PAGE = 20


def commentary_language(request: HttpRequest) -> str:
    """?lang= when given, else the remembered choice, else both."""
    chosen = request.GET.get("lang")
    if chosen in COMMENTARY_LANGUAGES:
        return chosen
    remembered = request.COOKIES.get(COMMENTARY_COOKIE)
    return remembered if remembered in COMMENTARY_LANGUAGES else "both"


def remember_commentary_language(request: HttpRequest, response: HttpResponse, language: str) -> None:
    """Store the choice when the reader made one; the page varies with the cookie either way."""
    if request.GET.get("lang") == language and request.COOKIES.get(COMMENTARY_COOKIE) != language:
        response.set_cookie(
            COMMENTARY_COOKIE,
            language,
            max_age=COMMENTARY_COOKIE_AGE,
            samesite="Lax",
            secure=request.is_secure(),
        )
    patch_vary_headers(response, ("Cookie",))


def paginate(request: HttpRequest, items, per_page: int) -> Page:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def digest_page_context(digest: Digest, language: str) -> dict:
    """The digest with its public entries, tags and rendered commentary."""
    entries = list(digest.ordered_entries().ready().with_listing_data())
    attach_commentary_html(entries, [digest])
    return {"digest": digest, "entries": entries, "commentary_language": language}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    language = commentary_language(request)
    digest = Digest.objects.published().first()
    context = digest_page_context(digest, language) if digest else {"digest": None}
    response = render(request, "newsletters/home.html", context)
    remember_commentary_language(request, response, language)
    return response


@require_GET
def archive(request: HttpRequest) -> HttpResponse:
    digests = (
        Digest.objects.published()
        .order_by("-date")
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=Entry.objects.ready().only("pk", "digest_id", "title", "position"),
                to_attr="public_entries",
            )
        )
    )
    return render(
        request, "newsletters/archive.html", {"page_obj": paginate(request, digests, DIGESTS_PER_PAGE)}
    )


@require_GET
def digest_detail(request: HttpRequest, date: datetime.date) -> HttpResponse:
    digest = get_object_or_404(Digest, date=date)
    if not digest.is_published() and not request.user.is_staff:
        raise Http404("No published digest for that day.")
    language = commentary_language(request)
    context = digest_page_context(digest, language)
    published = Digest.objects.published()
    context["previous"] = published.filter(date__lt=digest.date).order_by("-date").only("date").first()
    context["next"] = published.filter(date__gt=digest.date).order_by("date").only("date").first()
    response = render(request, "newsletters/digest.html", context)
    remember_commentary_language(request, response, language)
    return response


@require_GET
def paper_detail(request: HttpRequest, key: str) -> HttpResponse:
    entry, moved = find_paper(key)
    if entry is None:
        raise Http404("No such paper.")
    received = entry.digest is not None and entry.digest.was_received()
    if entry.withdrawn_at is not None and received:
        # Gone, not missing: readers have this link in their mail, so say what it was and where its day is.
        return render(request, "newsletters/paper_gone.html", {"entry": entry}, status=410)
    published = entry.status == Entry.Status.READY and received and entry.digest.is_published()
    if not published and not request.user.is_staff:
        raise Http404("No such paper.")
    if moved:
        return redirect(entry.get_absolute_url(), permanent=True)
    language = commentary_language(request)
    attach_commentary_html([entry])
    context = {"entry": entry, "preview": not published, "commentary_language": language}
    response = render(request, "newsletters/paper.html", context)
    remember_commentary_language(request, response, language)
    return response


@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    public = Q(entries__status=Entry.Status.READY, entries__digest__status__in=Digest.PUBLIC_STATUSES)
    tags = Tag.objects.annotate(entry_count=Count("entries", filter=public)).filter(entry_count__gt=0)
    return render(request, "newsletters/tag_list.html", {"tags": tags.order_by("slug")})


@require_GET
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tag = get_object_or_404(Tag, slug=slug)
    entries = (
        Entry.objects.published()
        .filter(entry_tags__tag=tag)
        .with_listing_data()
        .order_by("-digest__date", "position", "pk")
    )
    page_obj = paginate(request, entries, ENTRIES_PER_PAGE)
    if not page_obj.object_list:
        raise Http404("No published entries with that tag.")
    return render(request, "newsletters/tag.html", {"tag": tag, "page_obj": page_obj})


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = clean_query(request.GET.get("q", ""))
    entries = search_entries(query).with_listing_data() if query else Entry.objects.none()
    context = {"query": query, "page_obj": paginate(request, entries, ENTRIES_PER_PAGE) if query else None}
    return render(request, "newsletters/search.html", context)


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = ["User-agent: *", "Disallow: /admin/", f"Sitemap: {settings.SITE_URL}/sitemap.xml", ""]
    return HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
