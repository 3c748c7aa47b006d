"""Indexes that keep the core lists fast at a million rows on PostgreSQL (issue 8):

- each list's default order, collated naturally (`meridian_natural`) as the lists sort, then the id: page 1 of a
  list is an index scan of its first rows, not a sort of the whole table;
- trigram indexes (pg_trgm, a trusted extension: the database's owner may create it) on the upper-cased search
  fields, as Django's `icontains` compares them: a search does not read every row's text.

SQLite gets none of them (the natural collation is a Python function there, and SQLite has no trigram index):
its lists scan, which is fine at the sizes SQLite is meant for (docs/operators/deployment.md).
"""

from django.db import migrations

NATURAL = {
    "core_person": ["last_name", "first_name"],
    "core_organisation": ["name"],
    "core_team": ["name"],
    "core_calendar": ["name"],
}
TRIGRAM = {
    "core_person": ["first_name", "last_name", "email", "job_title"],
    "core_organisation": ["name", "email", "description"],
    "core_team": ["name", "email", "description"],
    "core_location": ["name", "address"],
}


def statements() -> list[tuple[str, str]]:
    made = [("CREATE EXTENSION IF NOT EXISTS pg_trgm", "SELECT 1")]
    for table, columns in NATURAL.items():
        keys = ", ".join(f'"{c}" COLLATE "meridian_natural"' for c in columns)
        name = f"{table}_natural_idx"
        made.append((f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({keys}, "id")', f'DROP INDEX IF EXISTS "{name}"'))
    for table, columns in TRIGRAM.items():
        for column in columns:
            name = f"{table}_{column}_trgm_idx"
            made.append(
                (
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin (UPPER("{column}"::text) gin_trgm_ops)',
                    f'DROP INDEX IF EXISTS "{name}"',
                )
            )
    return made


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for create, _drop in statements():
        schema_editor.execute(create)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for _create, drop in reversed(statements()[1:]):
        schema_editor.execute(drop)


class Migration(migrations.Migration):
    dependencies = [("core", "0018_import_jobs")]

    operations = [migrations.RunPython(forwards, backwards)]
