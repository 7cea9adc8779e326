"""RSS and Atom feeds: every digest, and every tag's entries (a feed per topic).

Links are absolute on SITE_URL, like the canonical links of the pages. Item bodies are the
same rendered, cached commentary the pages show. A feed is in the active language (its titles
and labels are translated), declared as the feed's language; Atom entries whose title is in
another language (a paper's English title) carry their own xml:lang, and inside item bodies
every block carries lang, as on the pages. Every Atom feed names the site as its author, so
each entry has one (RFC 4287 4.1.1). Items are dated by the digest's day, never by when it
was sent: a late send of an older day must not jump ahead of newer days. Whatever text is
stored, a feed is valid XML: characters XML 1.0 cannot hold are dropped on the way out
(XmlSafeFeed), never a 500.
"""

import datetime
import re

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
    """The digest's day: the configured send time on its date, whenever it was actually sent."""
    naive = datetime.datetime.combine(digest.date, settings.DIGEST_SEND_TIME)
    return timezone.make_aware(naive)


def updated_at(digest: Digest, *, last_edit: datetime.datetime) -> datetime.datetime:
    """The day's date, or the last edit when it came after the day was published.

    Edits made before the send (writing the day, the send itself touching the row) are not
    updates a reader could have missed, so they leave the item dated by its day.
    """
    published = published_at(digest)
    if last_edit > max(published, digest.sent_at or published):
        return last_edit
    return published


class LanguageAtom1Feed(Atom1Feed):
    """Atom with xml:lang on the entries whose text is in another language than the feed's."""

    def item_attributes(self, item: dict) -> dict:
        attributes = super().item_attributes(item)
        if item.get("language"):
            attributes["xml:lang"] = item["language"]
        return attributes


class SiteAuthorMixin:
    """The site is the author of every feed: entries without their own author inherit it."""

    def author_name(self) -> str:
        return settings.SITE_NAME

    def author_link(self) -> str:
        return absolute_url(reverse("newsletters:home"))


# Characters XML 1.0 forbids. Input refuses them (models.CONTROL_CHARACTERS), but rows stored
# before that rule, or written by a shell, must not turn every feed into a 500: Django's feed
# generator raises on control characters, and feed readers reject the rest.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: object) -> object:
    """The value with characters XML cannot hold removed, inside lists and tuples too."""
    if isinstance(value, str):
        return NOT_XML.sub("", value)
    if isinstance(value, list | tuple):
        return type(value)(xml_safe(item) for item in value)
    return value


class XmlSafeFeed(Feed):
    """A Feed whose every text (titles, descriptions, authors, categories) is made XML-safe."""

    def get_feed(self, obj, request: HttpRequest):
        feed = super().get_feed(obj, request)
        feed.feed = {name: xml_safe(value) for name, value in feed.feed.items()}
        feed.items = [{name: xml_safe(value) for name, value in item.items()} for item in feed.items]
        return feed


class DigestRssFeed(SiteAuthorMixin, XmlSafeFeed):
    feed_type = Rss201rev2Feed
    description_template = "newsletters/feed_digest_item.html"

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
        edits = [item.updated_at, *(entry.updated_at for entry in item.public_entries)]
        return updated_at(item, last_edit=max(edits))

    def item_categories(self, item: Digest) -> list[str]:
        slugs = (tag.slug for entry in item.public_entries for tag in entry.ordered_tags())
        return list(dict.fromkeys(slugs))


class DigestAtomFeed(DigestRssFeed):
    feed_type = LanguageAtom1Feed

    def subtitle(self) -> str:
        return self.description()

    def feed_url(self) -> str:
        return absolute_url(reverse("newsletters:atom"))


class TagRssFeed(SiteAuthorMixin, XmlSafeFeed):
    feed_type = Rss201rev2Feed
    description_template = "newsletters/feed_entry_item.html"

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

    def item_author_name(self, item: Entry) -> str | None:
        # None, not "": an entry without authors inherits the feed's author instead of an empty name.
        return ", ".join(item.authors) or None

    def item_pubdate(self, item: Entry) -> datetime.datetime:
        return published_at(item.digest)

    def item_updateddate(self, item: Entry) -> datetime.datetime:
        return updated_at(item.digest, last_edit=item.updated_at)

    def item_categories(self, item: Entry) -> list[str]:
        return [tag.slug for tag in item.ordered_tags()]


class TagAtomFeed(TagRssFeed):
    feed_type = LanguageAtom1Feed

    def item_extra_kwargs(self, item: Entry) -> dict:
        # An entry's title is the paper's English title, whatever language the feed is in.
        return {"language": "en"}

    def subtitle(self, obj: Tag) -> str:
        return self.description(obj)

    def feed_url(self, obj: Tag) -> str:
        return absolute_url(reverse("newsletters:tag_atom", kwargs={"slug": obj.slug}))
