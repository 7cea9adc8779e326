from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = _("Subscribers")

    def ready(self) -> None:
        from anymail.signals import inbound, tracking

        from . import inbound_mail, suppression

        tracking.connect(suppression.on_tracking, dispatch_uid="subscribers.suppression")
        inbound.connect(inbound_mail.on_inbound, dispatch_uid="subscribers.inbound_unsubscribe")
