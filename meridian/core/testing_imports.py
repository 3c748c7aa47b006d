"""Generic tests of the import (`core.imports`) that every registered record type runs, mixed into
`testing.RecordTypeTests`: an export of the type's list (CSV and XLSX, every column) and of its API (JSON) imports
back as an update that changes nothing; a new record imported from a file is created with its audit event and the
chain verifies; a role without ADD (and a customer) cannot import, on any channel, and nothing is written."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import models

from meridian.core import audit, imports, registry
from meridian.core.choices import Role
from meridian.core.models import AuditEvent
from meridian.core.registry import ADD, CHANGE
from meridian.core.tables import available_columns

if TYPE_CHECKING:
    from meridian.core.registry import RecordType


def run_import(rt: RecordType, content: bytes, name: str, user: Any, **options: Any) -> imports.Report:
    dry = imports.run(rt, imports.open_source(io.BytesIO(content), name), actor=user, dry_run=True, **options)
    if options.pop("dry_run_only", False) or not dry.ok:
        return dry
    return imports.run(
        rt,
        imports.open_source(io.BytesIO(content), name),
        actor=user,
        dry_run=False,
        expected_versions=dry.versions,
        **options,
    )


def csv_cell(value: Any) -> str:
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class ImportTests:
    """Mixed into RecordTypeTests: uses its `model`, `rt`, `actor()`, `url()`, `api_url()`, `page_client()`, `api()`,
    `new_data()`, `p`."""

    def _key_field(self: Any) -> str:
        """A field whose values are filled and unique among the records the importer sees: the update key."""
        records = list(self.model.objects.all())
        for name in imports.importable_fields(self.rt):
            f = self.model._meta.get_field(name)
            if f.is_relation or (self.rt.lifecycle and name == self.rt.lifecycle.field):
                continue
            values = [str(getattr(r, name)).casefold() for r in records]
            if all(values) and len(set(values)) == len(values):
                return str(f.verbose_name)
        self.skipTest("no field with unique values to match on")  # pragma: no cover
        return ""

    def test_import_export_round_trip_changes_nothing(self: Any) -> None:
        user = self.actor(CHANGE) if self.rt.permissions[CHANGE] & self.rt.permissions[ADD] else self.actor(ADD)
        client = self.page_client(user)
        client.post(self.url("columns"), {"columns": available_columns(self.rt)})
        count = self.model.objects.count()
        events = AuditEvent.objects.count()
        key = self._key_field()
        for kind in ("csv", "xlsx"):
            response = client.get(self.url("list"), {"export": kind})
            self.assertEqual(response.status_code, 200)
            content = b"".join(response.streaming_content) if response.streaming else response.content
            report = run_import(self.rt, content, f"export.{kind}", user, update_on=key)
            self.assertEqual([p.as_dict() for p in report.problems], [], kind)
            self.assertTrue(report.committed, kind)
            self.assertEqual((report.created, report.updated), (0, 0), kind)
            self.assertGreater(report.unchanged, 0, kind)
        listing = self.api(user).get(self.api_url(), {"page_size": 500}).json()
        items = listing["results"] if isinstance(listing, dict) else listing
        report = run_import(self.rt, json.dumps(items).encode(), "export.json", user, update_on="id")
        self.assertEqual([p.as_dict() for p in report.problems], [], "json")
        self.assertEqual((report.created, report.updated, report.unchanged), (0, 0, len(items)))
        self.assertEqual(self.model.objects.count(), count)
        self.assertEqual(AuditEvent.objects.count(), events, "an import that changes nothing writes no event")

    def test_import_creates_audited_records_and_the_chain_verifies(self: Any) -> None:
        user = self.actor(ADD)
        data = self.new_data()
        headers = [n for n in data if n in imports.importable_fields(self.rt)]
        rows = [headers, [csv_cell(data[n]) for n in headers]]
        out = io.StringIO()
        import csv

        csv.writer(out).writerows(rows)
        before = self.model.objects.count()
        with self.captureOnCommitCallbacks(execute=True):  # PostgreSQL chains right after the commit
            report = run_import(self.rt, out.getvalue().encode(), "new.csv", user)
        self.assertEqual([p.as_dict() for p in report.problems], [])
        self.assertEqual((report.created, report.committed), (1, True))
        self.assertEqual(self.model.objects.count(), before + 1)
        created = self.model.objects.order_by("-pk").first()
        self.assertEqual((created.created_by, created.version), (user, 1))
        event = AuditEvent.objects.get(record_type=self.rt.label, record_id=str(created.pk), action="create")
        self.assertIsNotNone(event.hash, "chained in the import's transaction (SQLite) or right after its commit")
        self.assertTrue(audit.verify_chain().ok)

    def test_roles_without_add_cannot_import_on_any_channel(self: Any) -> None:
        allowed = self.rt.permissions[ADD]
        refused = [role for role in Role.values if role not in allowed]
        content = b"name\nx\n"
        events = AuditEvent.objects.count()
        for role in refused:
            user = self.p.for_role(role)
            with self.assertRaises(PermissionDenied, msg=role):
                run_import(self.rt, content, "x.csv", user)
            upload = io.BytesIO(content)
            upload.name = "x.csv"
            response = self.api(user).post(self.api_url() + "import/", {"file": upload}, format="multipart")
            self.assertEqual(response.status_code, 403, role)
            self.assertEqual(self.page_client(user).get(self.url("import")).status_code, 403, role)
        self.assertEqual(AuditEvent.objects.count(), events)
        self.assertTrue(registry.get(self.model))
