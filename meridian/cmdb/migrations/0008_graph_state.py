"""The impact cache's freshness token (`cmdb.impact_cache`): the table `cmdb_graphstate(id = 1, token)` and the
triggers that write a new random token on every write of the failure-carrying graph: relationships, relationship
kinds, redundancy groups and their members. PostgreSQL: statement-level triggers (truncate included); SQLite:
row-level triggers, the only kind it has. A table that SQLite rebuilds in a later migration (an altered column)
loses its triggers: `test_impact_cache.TriggerTests` fails then, and this migration's `TRIGGERS` must be recreated."""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("cmdb_relationship", "cmdb_relationshipkind", "cmdb_redundancygroup", "cmdb_redundancygroup_members")

POSTGRESQL = [
    "CREATE TABLE cmdb_graphstate (id integer PRIMARY KEY CHECK (id = 1), token text NOT NULL)",
    "INSERT INTO cmdb_graphstate (id, token) VALUES (1, gen_random_uuid()::text)",
    """CREATE FUNCTION cmdb_graph_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cmdb_graphstate (id, token) VALUES (1, gen_random_uuid()::text)
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    RETURN NULL;
END
$$""",
    *(
        f"CREATE TRIGGER {table}_graph_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION cmdb_graph_changed()"
        for table in TABLES
    ),
]
POSTGRESQL_REVERSE = [
    *(f"DROP TRIGGER IF EXISTS {table}_graph_changed ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS cmdb_graph_changed()",
    "DROP TABLE IF EXISTS cmdb_graphstate",
]

SQLITE = [
    "CREATE TABLE cmdb_graphstate (id integer PRIMARY KEY CHECK (id = 1), token text NOT NULL)",
    "INSERT INTO cmdb_graphstate (id, token) VALUES (1, lower(hex(randomblob(16))))",
    *(
        f"CREATE TRIGGER {table}_graph_{event.lower()} AFTER {event} ON {table} FOR EACH ROW BEGIN "
        "INSERT OR REPLACE INTO cmdb_graphstate (id, token) VALUES (1, lower(hex(randomblob(16)))); END"
        for table in TABLES
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
]
SQLITE_REVERSE = [
    *(
        f"DROP TRIGGER IF EXISTS {table}_graph_{event.lower()}"
        for table in TABLES
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
    "DROP TABLE IF EXISTS cmdb_graphstate",
]


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            return  # another database: no token, and the impact cache stays off (no token row)
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0007_relationship_kind_index")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
