import datetime

from django.contrib.sitemaps.views import sitemap
from django.urls import path, register_converter

from newsletters.archive import feeds, views
from newsletters.archive.sitemaps import SITEMAPS


class IsoDateConverter:
    """A day in the URL as 2025-07-10; an impossible date (2025-02-30) simply does not match."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> datetime.date:
        return datetime.date.fromisoformat(value)

    def to_url(self, value: datetime.date | str) -> str:
        return value.isoformat() if isinstance(value, datetime.date) else value


register_converter(IsoDateConverter, "isodate")

app_name = "newsletters"

urlpatterns = [
    path("", views.home, name="home"),
    path("archive/", views.archive, name="archive"),
    path("digests/<isodate:date>/", views.digest_detail, name="digest"),
    path("papers/<path:key>/", views.paper_detail, name="paper"),
    path("tags/", views.tag_list, name="tags"),
    path("tags/<str:slug>/", views.tag_detail, name="tag"),
    path("tags/<str:slug>/rss/", feeds.TagRssFeed(), name="tag_rss"),
    path("tags/<str:slug>/atom/", feeds.TagAtomFeed(), name="tag_atom"),
    path("feeds/rss/", feeds.DigestRssFeed(), name="rss"),
    path("feeds/atom/", feeds.DigestAtomFeed(), name="atom"),
    path("search/", views.search, name="search"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    path("robots.txt", views.robots_txt, name="robots"),
]
