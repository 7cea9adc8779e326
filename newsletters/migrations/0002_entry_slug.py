from django.db import migrations, models
from django.utils.text import slugify


def fill_slugs(apps, schema_editor):
    """Give every existing entry the permalink slug new entries get on save."""
    Entry = apps.get_model("newsletters", "Entry")
    taken = set()
    for entry in Entry.objects.filter(slug="").order_by("pk").only("pk", "title"):
        base = slugify(entry.title, allow_unicode=True)[:94].strip("-") or "paper"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        Entry.objects.filter(pk=entry.pk).update(slug=slug)


class Migration(migrations.Migration):
    dependencies = [
        ("newsletters", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="entry",
            name="slug",
            field=models.SlugField(allow_unicode=True, blank=True, max_length=100, verbose_name="slug"),
        ),
        migrations.RunPython(fill_slugs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="entry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("slug", ""), _negated=True), fields=("slug",), name="entry_slug_unique"
            ),
        ),
    ]
