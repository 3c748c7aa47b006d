"""Audit events are written unchained and linked right after commit by one chainer (`core.audit.chain_pending`),
so writers no longer queue on one lock: `seq`, `prev_hash` and `hash` may be NULL until the event is linked,
`occurred_at` comes from the database's clock, and a partial index finds the events waiting to be linked.

The append-only guard of 0002 now lets exactly one UPDATE through: the chainer's, which links a still-unchained
event (NULL `seq`, `prev_hash` and `hash` become set) and changes nothing else. Every other UPDATE is refused,
and so is every DELETE on PostgreSQL. (SQLite keeps DELETE possible, as in 0002, because Django flushes test
databases with DELETE; `meridian audit verify` detects a removed event.)"""

import django.db.models.functions.datetime
from django.db import migrations, models

PG_GUARD = """
CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    -- the one change allowed: linking a still-unchained event, touching nothing but the three link columns
    IF TG_OP = 'UPDATE'
       AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
       AND to_jsonb(NEW) - '{seq,prev_hash,hash}'::text[] = to_jsonb(OLD) - '{seq,prev_hash,hash}'::text[] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
"""
PG_OLD_GUARD = """
CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
"""
# every column but the three link columns must stay as it was (IS: NULL-safe equality)
UNCHANGED = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "record_type",
    "record_id",
    "record_label",
    "organisation_id",
    "changes",
    "reason",
    "authorised_by",
)
SQLITE_GUARD = f"""
CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE ON core_auditevent
WHEN NOT (
    OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
    AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
    AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in UNCHANGED)}
)
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
"""
SQLITE_OLD_GUARD = """
CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE ON core_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS core_auditevent_no_update"


def install_guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_GUARD)
    elif vendor == "sqlite":  # the table was rebuilt by the field changes above: its trigger went with it
        schema_editor.execute(SQLITE_DROP)
        schema_editor.execute(SQLITE_GUARD)


def remove_guard(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


def restore_old_guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_OLD_GUARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)
        schema_editor.execute(SQLITE_OLD_GUARD)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_audit_append_only")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_old_guard),
        migrations.AlterModelOptions(
            name="auditevent",
            options={"ordering": [models.OrderBy(models.F("seq"), descending=True, nulls_first=True), "-id"]},
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="occurred_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(condition=models.Q(("seq__isnull", True)), fields=["id"], name="core_audit_pending_idx"),
        ),
        migrations.RunPython(install_guard, remove_guard),
    ]
