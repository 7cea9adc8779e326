from django.apps import AppConfig


class NewslettersConfig(AppConfig):
    name = "newsletters"
    verbose_name = "Newsletters"

    def ready(self) -> None:
        from digest_site import checks  # noqa: F401 (registers the mail identity checks)
        from digest_site.mailname import use_configured_mail_name

        # Registers Entry, EntryTag, Tag and Digest with django-reversion.
        from newsletters.authoring import history  # noqa: F401

        use_configured_mail_name()

        from anymail.signals import tracking

        from newsletters.delivery import policies

        tracking.connect(policies.on_tracking, dispatch_uid="newsletters.delivery.policies")
