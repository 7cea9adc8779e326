"""sitemap.xml: the home and archive pages, every published digest, paper and tag.

Addresses are built on SITE_URL (like canonical links), not on the Host of the request.
"""

import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.db.models import Count, Max, Q
from django.urls import reverse

from newsletters.models import Digest, Entry, Tag


class SiteUrlSitemap(Sitemap):
    def get_protocol(self, protocol: str | None = None) -> str:
        return urlsplit(settings.SITE_URL).scheme

    def get_domain(self, site=None) -> str:
        return urlsplit(settings.SITE_URL).netloc


class PageSitemap(SiteUrlSitemap):
    changefreq = "daily"
    priority = 0.8

    def items(self) -> list[str]:
        return ["newsletters:home", "newsletters:archive", "newsletters:tags"]

    def location(self, item: str) -> str:
        return reverse(item)


class DigestSitemap(SiteUrlSitemap):
    changefreq = "monthly"
    priority = 0.6

    def items(self):
        return Digest.objects.published().order_by("-date").only("date", "updated_at")

    def lastmod(self, item: Digest) -> datetime.datetime:
        return item.updated_at


class PaperSitemap(SiteUrlSitemap):
    changefreq = "monthly"
    priority = 0.5

    def items(self):
        return (
            Entry.objects.published()
            .order_by("-digest__date", "position")
            .only("pk", "arxiv_id", "slug", "updated_at")
        )

    def lastmod(self, item: Entry) -> datetime.datetime:
        return item.updated_at


class TagSitemap(SiteUrlSitemap):
    changefreq = "daily"
    priority = 0.4

    def items(self):
        public = Q(entries__status=Entry.Status.READY, entries__digest__status__in=Digest.PUBLIC_STATUSES)
        return (
            Tag.objects.annotate(
                entry_count=Count("entries", filter=public), latest=Max("entries__updated_at", filter=public)
            )
            .filter(entry_count__gt=0)
            .order_by("slug")
        )

    def lastmod(self, item: Tag) -> datetime.datetime | None:
        return item.latest


SITEMAPS = {"pages": PageSitemap, "digests": DigestSitemap, "papers": PaperSitemap, "tags": TagSitemap}
