from django import forms
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from newsletters.models import Digest, Tag

from .models import Subscriber, normalise_email


def tags_with_counts() -> QuerySet[Tag]:
    """Every tag with how many published entries it has had (entry_count)."""
    published = Q(entries__digest__status__in=[Digest.Status.SENDING, Digest.Status.SENT])
    return Tag.objects.annotate(entry_count=Count("entries", filter=published, distinct=True)).order_by(
        "slug"
    )


class TagChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, tag: Tag) -> str:
        return tag.display_name


class PreferencesForm(forms.Form):
    tags = TagChoiceField(
        queryset=Tag.objects.none(),
        to_field_name="slug",
        required=False,
        label=_("Topics"),
        help_text=_("Choose none to get every topic."),
    )
    language = forms.ChoiceField(
        choices=Subscriber.Language.choices,
        widget=forms.RadioSelect,
        initial=Subscriber.Language.BOTH,
        label=_("Commentary language"),
    )
    # An unticked box sends nothing, so required=False reads a missing field as "off".
    include_abstracts = forms.BooleanField(
        required=False,
        initial=True,
        label=_("Include abstracts"),
        help_text=_("Each paper's abstract begins under the commentary, with a link to the rest."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tags"].queryset = tags_with_counts()

    def tag_options(self) -> list[dict]:
        """Each tag with its name, description, entry count and whether it is ticked."""
        chosen = {str(value) for value in (self["tags"].value() or [])}
        return [
            {
                "slug": tag.slug,
                "name": tag.display_name,
                "description": tag.description,
                "entry_count": tag.entry_count,
                "checked": tag.slug in chosen,
            }
            for tag in self.fields["tags"].queryset
        ]


class SubscribeForm(PreferencesForm):
    email = forms.CharField(
        label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    # A honeypot: hidden from people by CSS, filled in by naive bots.
    website = forms.CharField(required=False, label=_("Leave this empty"))
    # Chosen later in the preference centre: a missing box here must not turn abstracts off.
    include_abstracts = None

    field_order = ["email", "tags", "language", "website"]

    def clean_email(self) -> str:
        # normalise_email's messages say what is wrong (too long, quoted, an IP address).
        return normalise_email(self.cleaned_data["email"])

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))
