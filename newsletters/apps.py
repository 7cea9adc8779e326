from django.apps import AppConfig


class NewslettersConfig(AppConfig):
    name = "newsletters"
    verbose_name = "Newsletters"

    def ready(self) -> None:
        # Registers Entry, EntryTag, Tag and Digest with django-reversion.
        from newsletters.authoring import history  # noqa: F401
