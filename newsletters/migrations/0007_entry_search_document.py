"""A stored full-text search document for each entry, on PostgreSQL only.

newsletters_entry.search_document (tsvector) is kept by a trigger on every insert and on every
update of the searched fields, and a GIN index makes a search cost the same whatever the size of
the archive or of any one entry. It is not a model field: nothing but newsletters/archive/search.py
reads it. Each field is indexed up to its first 100,000 characters; a tsvector holds at most 1 MB,
and rather than refuse an editor's row the trigger indexes less of it when that is exceeded.
SQLite has no such column (its fallback search is a bounded substring scan).
"""

from django.db import migrations

FORWARD = """
ALTER TABLE newsletters_entry ADD COLUMN search_document tsvector;

CREATE FUNCTION newsletters_entry_search_document() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer := 100000;
BEGIN
    LOOP
        BEGIN
            NEW.search_document :=
                setweight(to_tsvector('english'::regconfig, left(coalesce(NEW.title, ''), n)), 'A')
                || setweight(to_tsvector('simple'::regconfig, left(coalesce(NEW.title, ''), n)), 'A')
                || setweight(to_tsvector('simple'::regconfig, left(coalesce(NEW.authors::text, ''), n)), 'B')
                || setweight(to_tsvector('english'::regconfig,
                       left(coalesce(NEW.abstract, ''), n) || ' ' || left(coalesce(NEW.commentary_en, ''), n)), 'C')
                || setweight(to_tsvector('simple'::regconfig,
                       left(coalesce(NEW.commentary_ko, ''), n) || ' ' || left(coalesce(NEW.commentary_en, ''), n)), 'C');
            RETURN NEW;
        EXCEPTION WHEN program_limit_exceeded THEN
            n := n / 4;
        END;
    END LOOP;
END
$$;

CREATE TRIGGER newsletters_entry_search_document
    BEFORE INSERT OR UPDATE OF title, authors, abstract, commentary_ko, commentary_en
    ON newsletters_entry FOR EACH ROW EXECUTE FUNCTION newsletters_entry_search_document();

UPDATE newsletters_entry SET title = title;

CREATE INDEX newsletters_entry_search_document_gin ON newsletters_entry USING gin (search_document);
"""

BACKWARD = """
DROP INDEX IF EXISTS newsletters_entry_search_document_gin;
DROP TRIGGER IF EXISTS newsletters_entry_search_document ON newsletters_entry;
DROP FUNCTION IF EXISTS newsletters_entry_search_document();
ALTER TABLE newsletters_entry DROP COLUMN IF EXISTS search_document;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("newsletters", "0006_digest_paused_missed_planned"),
    ]

    operations = [migrations.RunPython(forward, backward)]
