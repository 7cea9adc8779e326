from django import template

from subscribers.forms import SubscribeForm

register = template.Library()


@register.inclusion_tag("subscribers/_subscribe_form.html", takes_context=True)
def subscribe_form(context: template.Context) -> dict:
    """The subscribe form, for any page: {% load subscribe %}{% subscribe_form %}."""
    return {
        "form": SubscribeForm(),
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
    }
