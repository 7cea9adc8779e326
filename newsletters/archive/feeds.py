"""RSS and Atom feeds: every digest, and every tag's entries (a feed per topic).

Links are absolute on SITE_URL, like the canonical links of the pages. Item bodies are the
same rendered, cached commentary the pages show.
"""

import datetime

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import Prefetch
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from newsletters.models import Digest, Entry, Tag
from newsletters.templatetags.commentary import attach_commentary_html
from newsletters.templatetags.seo import absolute_url

DIGESTS_IN_FEED = 20
ENTRIES_IN_FEED = 30


def published_at(digest: Digest) -> datetime.datetime:
    """When the day went out: sent_at, else the configured send time on its date."""
    if digest.sent_at:
        return digest.sent_at
    naive = datetime.datetime.combine(digest.date, settings.DIGEST_SEND_TIME)
    return timezone.make_aware(naive)


class DigestRssFeed(Feed):
    feed_type = Rss201rev2Feed
    description_template = "newsletters/feed_digest_item.html"
    language = settings.LANGUAGE_CODE

    def title(self) -> str:
        return settings.SITE_NAME

    def description(self) -> str:
        return _("Daily machine learning papers with commentary in Korean and English.")

    def link(self) -> str:
        return absolute_url(reverse("newsletters:home"))

    def feed_url(self) -> str:
        return absolute_url(reverse("newsletters:rss"))

    def items(self) -> list[Digest]:
        entries = Entry.objects.ready().prefetch_related("entry_tags__tag").order_by("position", "pk")
        digests = list(
            Digest.objects.published()
            .order_by("-date")
            .prefetch_related(Prefetch("entries", queryset=entries, to_attr="public_entries"))[
                :DIGESTS_IN_FEED
            ]
        )
        attach_commentary_html([entry for digest in digests for entry in digest.public_entries], digests)
        return digests

    def item_title(self, item: Digest) -> str:
        count = len(item.public_entries)
        return ngettext("%(date)s: %(count)d paper", "%(date)s: %(count)d papers", count) % {
            "date": formats.date_format(item.date, "DATE_FORMAT"),
            "count": count,
        }

    def item_link(self, item: Digest) -> str:
        return absolute_url(item.get_absolute_url())

    def item_pubdate(self, item: Digest) -> datetime.datetime:
        return published_at(item)

    def item_updateddate(self, item: Digest) -> datetime.datetime:
        return max(published_at(item), item.updated_at)

    def item_categories(self, item: Digest) -> list[str]:
        slugs = (tag.slug for entry in item.public_entries for tag in entry.ordered_tags())
        return list(dict.fromkeys(slugs))


class DigestAtomFeed(DigestRssFeed):
    feed_type = Atom1Feed

    def subtitle(self) -> str:
        return self.description()

    def feed_url(self) -> str:
        return absolute_url(reverse("newsletters:atom"))


class TagRssFeed(Feed):
    feed_type = Rss201rev2Feed
    description_template = "newsletters/feed_entry_item.html"
    language = settings.LANGUAGE_CODE

    def get_object(self, request: HttpRequest, slug: str) -> Tag:
        return get_object_or_404(Tag, slug=slug)

    def title(self, obj: Tag) -> str:
        return f"{settings.SITE_NAME}: #{obj.slug}"

    def description(self, obj: Tag) -> str:
        return obj.description or _("Papers tagged #%(tag)s, with commentary.") % {"tag": obj.slug}

    def link(self, obj: Tag) -> str:
        return absolute_url(obj.get_absolute_url())

    def feed_url(self, obj: Tag) -> str:
        return absolute_url(reverse("newsletters:tag_rss", kwargs={"slug": obj.slug}))

    def items(self, obj: Tag) -> list[Entry]:
        entries = list(
            Entry.objects.published()
            .filter(entry_tags__tag=obj)
            .with_listing_data()
            .order_by("-digest__date", "position", "pk")[:ENTRIES_IN_FEED]
        )
        attach_commentary_html(entries)
        return entries

    def item_title(self, item: Entry) -> str:
        return item.title

    def item_link(self, item: Entry) -> str:
        return absolute_url(item.get_absolute_url())

    def item_author_name(self, item: Entry) -> str:
        return ", ".join(item.authors)

    def item_pubdate(self, item: Entry) -> datetime.datetime:
        return published_at(item.digest)

    def item_updateddate(self, item: Entry) -> datetime.datetime:
        return max(published_at(item.digest), item.updated_at)

    def item_categories(self, item: Entry) -> list[str]:
        return [tag.slug for tag in item.ordered_tags()]


class TagAtomFeed(TagRssFeed):
    feed_type = Atom1Feed

    def subtitle(self, obj: Tag) -> str:
        return self.description(obj)

    def feed_url(self, obj: Tag) -> str:
        return absolute_url(reverse("newsletters:tag_atom", kwargs={"slug": obj.slug}))
