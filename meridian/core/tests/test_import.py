"""Import (`core.imports`) beyond the generic tests every type runs (`testing_imports`): reading files (encodings,
formulas, sheets, JSON), refusals that write nothing, links by name, tenancy, the lifecycle, custom fields, updates
with the version check, the command, the API and the pages, and a slice of a real inventory (NetBox's demo data)."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from meridian.core import audit, imports, registry, services
from meridian.core.choices import CustomFieldType, OrganisationKind, Role
from meridian.core.factories import CustomFieldFactory, LocationFactory
from meridian.core.models import AuditEvent, ImportJob, Location, Organisation, Person
from meridian.core.testing import PrincipalsTestCase, api_client
from meridian.core.testing_attachments import use_own_attachment_storage

NETBOX = Path("/work/shared/datasets/netbox-demo-data/netbox-demo-v3.6.json")
ORGS = registry.get(Organisation)
PEOPLE = registry.get(Person)
LOCATIONS = registry.get(Location)


def source(content: bytes | str, name: str = "file.csv", sheet: str | None = None) -> imports.Source:
    data = content.encode() if isinstance(content, str) else content
    return imports.open_source(io.BytesIO(data), name, sheet=sheet)


def xlsx(*sheets: tuple[str, list[list[Any]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


class ImportTestCase(PrincipalsTestCase):
    def setUp(self) -> None:
        super().setUp()
        use_own_attachment_storage(self)

    def do(self, rt: Any, content: bytes | str, name: str = "file.csv", user: Any = None, **options: Any) -> Any:
        """A dry run and, when it passes, the commit with its versions (what the command and the pages do)."""
        user = user or self.admin
        dry = imports.run(rt, source(content, name, options.get("sheet")), actor=user, dry_run=True, **_opts(options))
        if not dry.ok:
            return dry
        return imports.run(
            rt,
            source(content, name, options.get("sheet")),
            actor=user,
            dry_run=False,
            expected_versions=dry.versions,
            **_opts(options),
        )

    def problems(self, report: Any) -> list[tuple[int, str, str]]:
        return [(p.row, p.column, p.message) for p in report.problems]


def _opts(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "sheet"}


class ReadingTests(ImportTestCase):
    def test_windows_1252_from_excel_is_decoded_and_said(self) -> None:
        content = "Name;Description\nCafé Müller;Größe € 5\n".encode("cp1252")
        report = self.do(ORGS, content)
        self.assertTrue(report.committed, report.problems)
        self.assertIn("Windows-1252", " ".join(report.notes))
        self.assertEqual(Organisation.objects.get(name="Café Müller").description, "Größe € 5")

    def test_utf8_with_a_byte_order_mark(self) -> None:
        report = self.do(ORGS, "\ufeffName,Kind\nÅsa AB,Supplier\n".encode())
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(Organisation.objects.get(name="Åsa AB").kind, OrganisationKind.SUPPLIER)
        self.assertIn("byte order mark", " ".join(report.notes))

    def test_undecodable_and_utf16_files_are_refused_saying_why(self) -> None:
        with self.assertRaisesMessage(imports.ImportRefused, "neither UTF-8 nor Windows-1252"):
            source(b"Name\nab\x81cd\n")
        with self.assertRaisesMessage(imports.ImportRefused, "UTF-16"):
            source("Name\nx\n".encode("utf-16"))

    def test_formulas_are_stored_as_text_never_run(self) -> None:
        report = self.do(ORGS, 'Name,Description\nCalc,"=1+1"\nQuoted,"\'=HYPERLINK(""x"")"\n')
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(Organisation.objects.get(name="Calc").description, "=1+1")
        self.assertEqual(Organisation.objects.get(name="Quoted").description, '=HYPERLINK("x")')
        workbook = xlsx(("Orgs", [["Name", "Description"], ["Sheet calc", "=SUM(1,2)"]]))
        report = self.do(ORGS, workbook, "orgs.xlsx")
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(Organisation.objects.get(name="Sheet calc").description, "=SUM(1,2)")

    def test_a_workbook_with_several_sheets_asks_which(self) -> None:
        workbook = xlsx(("Notes", [["x"]]), ("Orgs", [["Name", "Active"], ["From sheet", "no"]]))
        with self.assertRaises(imports.ImportRefused) as caught:
            source(workbook, "two.xlsx")
        self.assertEqual((caught.exception.field, caught.exception.choices), ("sheet", ["Notes", "Orgs"]))
        with self.assertRaisesMessage(imports.ImportRefused, "There is no sheet “Nope”"):
            source(workbook, "two.xlsx", sheet="Nope")
        report = self.do(ORGS, workbook, "two.xlsx", sheet="Orgs")
        self.assertTrue(report.committed, report.problems)
        self.assertFalse(Organisation.objects.get(name="From sheet").active)

    def test_json_list_of_objects_streamed(self) -> None:
        items = [{"name": f"J{n}", "kind": "supplier", "active": n % 2 == 0, "custom": {}} for n in range(300)]
        report = self.do(ORGS, json.dumps(items), "orgs.json")
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(Organisation.objects.filter(name__startswith="J", kind="supplier").count(), 300)
        self.assertFalse(Organisation.objects.get(name="J1").active)
        for bad, message in (("{}", "list of objects"), ("[1, 2]", "list of objects"), ('[{"name": "x"', "not")):
            with self.assertRaises(imports.ImportRefused, msg=bad) as caught:
                report = imports.run(ORGS, source(bad, "x.json"), actor=self.admin, dry_run=True)
            self.assertIn(message, caught.exception.message)


class RefusalTests(ImportTestCase):
    def assert_nothing_written(self, before: tuple[int, int]) -> None:
        self.assertEqual((Organisation.objects.count(), AuditEvent.objects.count()), before)

    def counts(self) -> tuple[int, int]:
        return Organisation.objects.count(), AuditEvent.objects.count()

    def test_empty_and_too_large_files(self) -> None:
        for content in (b"", b"\n\n", b"  \n"):
            with self.assertRaisesMessage(imports.ImportRefused, "empty"):
                source(content)
        with override_settings(MERIDIAN_IMPORT_MAX_SIZE=10), self.assertRaisesMessage(imports.ImportRefused, "MB"):
            source("Name\nA long enough file\n")

    def test_row_problems_are_all_reported_and_nothing_is_written(self) -> None:
        before = self.counts()
        content = (
            "Name,Kind,Email,Active,Colour\n"
            "Good one,customer,a@b.example,yes,red\n"  # row 2
            "Short row,customer\n"  # 3: fewer cells than the header
            "Bad,martian,not-an-email,perhaps,x\n"  # 4: choice, email, boolean
            "good ONE,supplier,,no,\n"  # 5: the same name as row 2 (case-insensitive)
            "Customer A (tests),customer,,yes,\n"  # 6: exists already
        )
        report = self.do(ORGS, content)
        self.assertFalse(report.committed)
        found = self.problems(report)
        self.assertIn((1, "Colour", found[0][2]), found)
        self.assertIn("Unknown column", found[0][2])
        rows = {(row, column) for row, column, _ in found}
        self.assertTrue({(3, ""), (4, "Kind"), (4, "Email"), (4, "Active"), (5, "Name"), (6, "Name")} <= rows, found)
        self.assertIn("Row 2 has the same", {(r, c): m for r, c, m in found}[(5, "Name")])
        self.assert_nothing_written(before)

    def test_a_problem_in_the_last_batch_writes_nothing_of_the_earlier_batches(self) -> None:
        before = self.counts()
        rows = [f"Batch {n},customer" for n in range(25)] + ["Bad,martian"]
        report = imports.run(
            ORGS, source("Name,Kind\n" + "\n".join(rows)), actor=self.admin, dry_run=False, batch_size=10
        )
        self.assertEqual((report.committed, report.problem_count, report.created), (False, 1, 0))
        self.assert_nothing_written(before)

    def test_a_mapping_names_columns_and_leaves_some_out(self) -> None:
        content = "Company,Mail,Internal notes\nMapped Ltd,m@mapped.example,secret\n"
        report = self.do(ORGS, content)
        self.assertEqual(
            {(r, c) for r, c, _ in self.problems(report)}, {(1, "Company"), (1, "Mail"), (1, "Internal notes"), (1, "")}
        )
        self.assertIn("A column for “Name” is required", self.problems(report)[-1][2])
        report = self.do(ORGS, content, mapping={"Company": "name", "Mail": "Email", "Internal notes": ""})
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(Organisation.objects.get(name="Mapped Ltd").email, "m@mapped.example")
        with self.assertRaises(imports.ImportRefused) as caught:
            source_ = source(content)
            imports.run(ORGS, source_, actor=self.admin, dry_run=True, mapping={"Company": "colour"})
        self.assertEqual(caught.exception.field, "mapping")


class RuleTests(ImportTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.room_a = LocationFactory(organisation=cls.p.org_a, name="Room 1")
        cls.room_b = LocationFactory(organisation=cls.p.org_b, name="Room 1")
        cls.only_b = LocationFactory(organisation=cls.p.org_b, name="B's basement")

    def test_links_by_name_narrowed_to_the_row_organisation_and_refused_across_organisations(self) -> None:
        content = (
            "First name,Last name,Organisation,Location\n"
            "Ann,Lee,Customer A (tests),room 1\n"  # two "Room 1": the one of the person's organisation
            "Bob,Ray,Customer A (tests),B's basement\n"  # another organisation's location
        )
        report = self.do(PEOPLE, content)
        self.assertEqual(
            self.problems(report), [(3, "Location", "Choose from the locations of this person's own organisation.")]
        )
        report = self.do(PEOPLE, content.splitlines()[0] + "\n" + content.splitlines()[1] + "\n")
        self.assertTrue(report.committed)
        self.assertEqual(Person.objects.get(first_name="Ann").location, self.room_a)

    def test_an_ambiguous_name_is_refused_with_the_count(self) -> None:
        report = self.do(LOCATIONS, "Name,Organisation,Parent\nDesk,Customer A (tests),\nX,Provider (tests),Room 1\n")
        problems = self.problems(report)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("2 locations are called “Room 1”", problems[0][2])

    def test_a_customer_cannot_import_and_a_role_without_add_neither(self) -> None:
        from django.core.exceptions import PermissionDenied

        for user in (self.p.customer_a, self.p.users[Role.AUDITOR], self.p.users[Role.SERVICE_DESK_AGENT]):
            with self.assertRaises(PermissionDenied):
                imports.run(LOCATIONS, source("Name,Organisation\nX,Customer A (tests)\n"), actor=user, dry_run=True)

    def test_the_status_moves_only_through_its_actions(self) -> None:
        content = "First name,Last name,Organisation,Status\nCy,Oh,Customer A (tests),Suspended\n"
        report = self.do(PEOPLE, content)
        self.assertEqual(
            self.problems(report),
            [(2, "Status", "The status changes only through its actions: a new record starts as “Active”.")],
        )
        report = self.do(PEOPLE, content.replace("Suspended", "active"))
        self.assertTrue(report.committed, report.problems)
        person = Person.objects.get(first_name="Cy")
        report = self.do(PEOPLE, f"id,Status\n{person.pk},Left\n", update_on="id")
        self.assertEqual(
            report.problems[0].message, "The status changes only through its actions: this record is “Active”."
        )

    def test_custom_fields_are_imported_and_validated_by_their_validator(self) -> None:
        CustomFieldFactory(applies_to="core.organisation", name="seats", label="Seats", type=CustomFieldType.INTEGER)
        CustomFieldFactory(applies_to="core.organisation", name="vip", label="VIP", type=CustomFieldType.BOOLEAN)
        report = self.do(ORGS, "Name,Seats,custom.vip\nWith seats,12,yes\nBad seats,many,no\n")
        self.assertEqual(self.problems(report), [(3, "Seats", "Must be a whole number.")])
        report = self.do(ORGS, "Name,Seats,custom.vip\nWith seats,12,yes\n")
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(Organisation.objects.get(name="With seats").custom, {"seats": 12, "vip": True})

    def test_update_on_a_key_with_the_version_check(self) -> None:
        org = services.create_record(Organisation, data={"name": "Versioned"}, actor=self.admin)
        content = "Name,Phone\nVersioned,+31 20 123\nBrand new,\n"
        dry = imports.run(ORGS, source(content), actor=self.admin, dry_run=True, update_on="name")
        self.assertEqual((dry.created, dry.updated, dry.versions), (1, 1, {str(org.pk): 1}))
        services.update_record(org, data={"email": "x@v.example"}, actor=self.admin, expected_version=1)
        before = AuditEvent.objects.count()
        report = imports.run(
            ORGS, source(content), actor=self.admin, dry_run=False, update_on="name", expected_versions=dry.versions
        )
        self.assertFalse(report.committed)
        self.assertIn("changed since the dry run", report.problems[0].message)
        org.refresh_from_db()
        self.assertEqual((org.phone, org.version, AuditEvent.objects.count()), ("", 2, before))
        self.assertFalse(Organisation.objects.filter(name="Brand new").exists())
        report = self.do(ORGS, content, update_on="name")
        self.assertEqual((report.committed, report.created, report.updated), (True, 1, 1))
        org.refresh_from_db()
        self.assertEqual((org.phone, org.version), ("+31 20 123", 3))
        event = AuditEvent.objects.filter(record_id=str(org.pk), record_type="core.organisation").first()
        self.assertEqual((event.action, event.changes), ("update", {"phone": {"before": "", "after": "+31 20 123"}}))
        self.assertEqual(self.problems(self.do(ORGS, "Name\nVersioned\nversioned\n", update_on="name"))[0][0], 3)

    def test_the_audit_chain_verifies_after_a_bulk_import(self) -> None:
        rows = "\n".join(f"Bulk {n},customer,bulk{n}@x.example" for n in range(2500))
        report = imports.run(ORGS, source("Name,Kind,Email\n" + rows), actor=self.admin, dry_run=False)
        self.assertEqual((report.committed, report.created), (True, 2500))
        self.assertEqual(AuditEvent.objects.filter(action="create", record_type="core.organisation").count(), 2500)
        out = io.StringIO()
        with tempfile.TemporaryDirectory() as folder, override_settings(AUDIT_WITNESS_FILE=f"{folder}/witness"):
            call_command("audit", "verify", stdout=out)
        self.assertIn("audit trail intact", out.getvalue())


class CommandTests(ImportTestCase):
    def test_the_command_reports_problems_and_exits_non_zero_and_imports_when_clean(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "orgs.csv"
            path.write_text("Name,Kind\nCli Org,martian\n")
            err = io.StringIO()
            with self.assertRaisesMessage(CommandError, "1 problem(s): nothing was written"):
                call_command("import", "organisations", str(path), stdout=io.StringIO(), stderr=err)
            self.assertIn("row 2, Kind: “martian” is not one of the choices", err.getvalue())
            path.write_text("Name,Kind\nCli Org,supplier\n")
            out = io.StringIO()
            call_command("import", "core.organisation", str(path), "--dry-run", stdout=out)
            self.assertIn("would create 1", out.getvalue())
            self.assertFalse(Organisation.objects.filter(name="Cli Org").exists())
            call_command("import", "organisations", str(path), "--as", self.admin.username, stdout=out)
            self.assertEqual(Organisation.objects.get(name="Cli Org").created_by, self.admin)
            with self.assertRaisesMessage(CommandError, "sheet"):
                book = Path(folder) / "two.xlsx"
                book.write_bytes(xlsx(("A", [["Name"]]), ("B", [["Name"]])))
                call_command("import", "organisations", str(book), stdout=out)
            with self.assertRaisesMessage(CommandError, "Your roles do not allow"):
                call_command("import", "organisations", str(path), "--as", self.p.customer_a.username, stdout=out)


class ApiTests(ImportTestCase):
    def post(self, user: Any, **data: Any) -> Any:
        url = reverse("api:core-organisations-list") + "import/"
        return api_client(user).post(url, data, format="multipart")

    def upload(self, content: bytes | str, name: str = "orgs.csv") -> Any:
        f = io.BytesIO(content.encode() if isinstance(content, str) else content)
        f.name = name
        return f

    def test_dry_run_then_commit_with_its_token(self) -> None:
        response = self.post(self.admin, file=self.upload("Name,Kind\nApi Org,supplier\n"))
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual((body["dry_run"], body["created"], body["problems"]), (True, 1, []))
        self.assertFalse(Organisation.objects.filter(name="Api Org").exists())
        response = self.post(self.admin, token=body["token"], dry_run="false")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertTrue(response.json()["committed"])
        self.assertTrue(Organisation.objects.filter(name="Api Org").exists())
        job = ImportJob.objects.get(pk=body["token"])
        self.assertEqual((job.status, job.file), ("done", ""))
        again = self.post(self.admin, token=body["token"], dry_run="false")
        self.assertEqual(again.status_code, 400)
        self.assertIn("token", again.json())
        other = self.post(self.p.users[Role.ADMINISTRATOR], token=str(job.pk), dry_run="false")
        self.assertEqual(other.status_code, 400)

    def test_refused_input_is_a_field_level_400_and_problems_a_400_with_the_report(self) -> None:
        self.assertEqual(self.post(self.admin).json(), {"file": ["Send a file to import (or the token of a dry run)."]})
        book = xlsx(("A", [["Name"]]), ("B", [["Name"]]))
        body = self.post(self.admin, file=self.upload(book, "two.xlsx")).json()
        self.assertEqual(body["choices"], ["A", "B"])
        self.assertIn("sheets", body["sheet"][0])
        self.assertIn("mapping", self.post(self.admin, file=self.upload("Name\nx\n"), mapping="[1]").json())
        response = self.post(self.admin, file=self.upload("Name,Kind\nX,martian\n"), dry_run="false")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["problems"][0]["column"], "Kind")
        self.assertEqual(ImportJob.objects.exclude(file="").count(), 0, "no file is kept of a refused import")

    def test_a_customer_is_refused(self) -> None:
        self.assertEqual(self.post(self.p.customer_a, file=self.upload("Name\nx\n")).status_code, 403)

    def test_openapi_documents_the_endpoint(self) -> None:
        self.client.force_login(self.admin)
        schema = self.client.get(reverse("schema"), {"format": "json"}).json()
        operation = schema["paths"]["/api/v1/core/organisations/import/"]["post"]
        self.assertIn("multipart/form-data", operation["requestBody"]["content"])
        self.assertEqual(operation["summary"], "Import from a file")


class PageTests(ImportTestCase):
    def test_upload_check_and_commit(self) -> None:
        self.client.force_login(self.admin)
        listing = self.client.get(reverse("core:organisation_list"))
        self.assertContains(listing, 'id="import-button"')
        upload = self.client.post(
            reverse("core:organisation_import"),
            {"file": io.BytesIO(b"Company,Kind\nPage Org,supplier\n"), "update_on": ""},
        )
        self.assertEqual(upload.status_code, 303)
        page = self.client.get(upload["Location"])
        self.assertContains(page, "Unknown column")
        self.assertContains(page, 'name="map-0"')
        job = ImportJob.objects.get()
        response = self.client.post(
            upload["Location"], {"step": "check", "header": ["Company", "Kind"], "map-0": "name", "map-1": "?"}
        )
        self.assertEqual(response.status_code, 303)
        page = self.client.get(upload["Location"])
        self.assertContains(page, "Will create 1")
        self.assertContains(page, 'id="import-commit"')
        self.client.post(upload["Location"], {"step": "commit"})
        self.assertTrue(Organisation.objects.filter(name="Page Org", kind="supplier").exists())
        job.refresh_from_db()
        self.assertEqual(job.status, "done")
        report = self.client.get(reverse("core:organisation_import_report", args=[job.pk]))
        self.assertIn(b"created 1", report.content)

    @override_settings(MERIDIAN_IMPORT_BACKGROUND_ROWS=2)
    def test_a_long_file_runs_in_the_background(self) -> None:
        self.client.force_login(self.admin)
        rows = "".join(f"Long {n},customer\n" for n in range(5))
        upload = self.client.post(
            reverse("core:organisation_import"), {"file": io.BytesIO(("Name,Kind\n" + rows).encode())}
        )
        page = self.client.get(upload["Location"])
        self.assertContains(page, "imported in the background")
        self.client.post(upload["Location"], {"step": "commit"})  # the task queue runs at once in tests
        job = ImportJob.objects.get()
        self.assertEqual((job.status, job.done_rows), ("done", 5))
        progress = self.client.get(reverse("core:organisation_import_progress", args=[job.pk]), HTTP_HX_REQUEST="true")
        self.assertEqual(progress["HX-Refresh"], "true")

    def test_others_cannot_see_a_job_and_roles_without_add_get_no_button(self) -> None:
        job, _ = imports.check_file(ORGS, io.BytesIO(b"Name\nx\n"), "x.csv", actor=self.admin)
        other = self.p.users[Role.CONFIGURATION_MANAGER]
        self.client.force_login(other)
        self.assertNotContains(self.client.get(reverse("core:organisation_list")), 'id="import-button"')
        self.client.force_login(self.p.users[Role.ADMINISTRATOR])
        self.assertEqual(self.client.get(reverse("core:organisation_import_job", args=[job.pk])).status_code, 200)


class DatasetTests(ImportTestCase):
    """A slice of a real inventory: NetBox's demo tenants as organisations, their sites as locations."""

    def test_netbox_tenants_and_sites(self) -> None:
        if not NETBOX.exists():
            self.skipTest(f"the NetBox demo data set is not at {NETBOX}")
        items = json.loads(NETBOX.read_text())
        tenants = {i["pk"]: i["fields"] for i in items if i["model"] == "tenancy.tenant"}
        sites = [i["fields"] for i in items if i["model"] == "dcim.site" and i["fields"]["tenant"] in tenants]
        orgs = [{"name": t["name"], "kind": "Customer", "description": t["description"]} for t in tenants.values()]
        report = self.do(ORGS, json.dumps(orgs), "tenants.json")
        self.assertTrue(report.committed, report.problems)
        out = io.StringIO()
        import csv

        writer = csv.writer(out)
        writer.writerow(["Name", "Kind", "Organisation", "Address", "Time zone"])
        for site in sites:
            writer.writerow(
                [
                    site["name"],
                    "site",
                    tenants[site["tenant"]]["name"],
                    site["physical_address"],
                    site["time_zone"] or "",
                ]
            )
        report = self.do(LOCATIONS, out.getvalue().encode("cp1252", "replace"), "sites.csv")
        self.assertTrue(report.committed, report.problems)
        self.assertEqual(report.created, len(sites))
        for site in sites:
            location = Location.objects.get(name=site["name"])
            self.assertEqual(location.organisation.name, tenants[site["tenant"]]["name"])
        self.assertTrue(audit.verify_chain().ok)


class LeastRoleTests(ImportTestCase):
    """The least privileged role that may add locations (a configuration manager) imports through the page and the
    API; a customer user is refused on both and nothing is written."""

    def content(self, *names: str) -> bytes:
        return ("Name,Kind,Organisation\n" + "".join(f"{n},site,{self.p.org_a.name}\n" for n in names)).encode()

    def test_a_configuration_manager_imports_locations_by_page_and_api(self) -> None:
        manager = self.p.users[Role.CONFIGURATION_MANAGER]
        self.client.force_login(manager)
        self.assertContains(self.client.get(reverse("core:location_list")), 'id="import-button"')
        upload = self.client.post(reverse("core:location_import"), {"file": io.BytesIO(self.content("Page site"))})
        self.assertEqual(upload.status_code, 303)
        self.assertContains(self.client.get(upload["Location"]), "Will create 1")
        self.assertEqual(self.client.post(upload["Location"], {"step": "commit"}).status_code, 303)
        site = Location.objects.get(name="Page site")
        self.assertEqual((site.organisation, site.created_by), (self.p.org_a, manager))

        url = reverse("api:core-locations-list") + "import/"
        upload = io.BytesIO(self.content("Api site"))
        upload.name = "sites.csv"
        dry = api_client(manager).post(url, {"file": upload}, format="multipart")
        self.assertEqual((dry.status_code, dry.json()["created"]), (200, 1), dry.content)
        done = api_client(manager).post(url, {"token": dry.json()["token"], "dry_run": "false"}, format="multipart")
        self.assertEqual(done.status_code, 200, done.content)
        self.assertEqual(Location.objects.get(name="Api site").created_by, manager)

    def test_a_customer_user_is_refused_by_page_and_api(self) -> None:
        customer = self.p.customer_a
        events = AuditEvent.objects.count()
        self.client.force_login(customer)
        self.assertNotContains(self.client.get(reverse("core:location_list")), 'id="import-button"', status_code=200)
        page = self.client.post(reverse("core:location_import"), {"file": io.BytesIO(self.content("Sneaky"))})
        self.assertEqual(page.status_code, 403)
        upload = io.BytesIO(self.content("Sneaky"))
        upload.name = "sites.csv"
        url = reverse("api:core-locations-list") + "import/"
        response = api_client(customer).post(url, {"file": upload, "dry_run": "false"}, format="multipart")
        self.assertEqual(response.status_code, 403)
        self.assertFalse(Location.objects.filter(name="Sneaky").exists())
        self.assertEqual((ImportJob.objects.count(), AuditEvent.objects.count()), (0, events))


class BatchTests(ImportTestCase):
    """Per batch, not per row: the queries of a dry run and of a commit do not grow with the rows (links resolved
    once per batch, unique constraints checked per batch, the names the audit events show prefetched)."""

    def queries(self, rt: Any, content: str, user: Any, **options: Any) -> tuple[int, int]:
        counts = []
        for dry_run in (True, False):
            with CaptureQueriesContext(connection) as captured:
                report = imports.run(rt, source(content), actor=user, dry_run=dry_run, **options)
            self.assertEqual(self.problems(report), [])
            counts.append(len(captured.captured_queries))
        return counts[0], counts[1]

    def test_queries_do_not_grow_with_the_rows(self) -> None:
        manager = self.p.users[Role.CONFIGURATION_MANAGER]
        LocationFactory(name="HQ", organisation=self.p.org_a)
        org = self.p.org_a.name

        def rooms(prefix: str, n: int) -> str:
            return "Name,Kind,Organisation,Parent\n" + "".join(f"{prefix} {i},room,{org},HQ\n" for i in range(n))

        imports.run(LOCATIONS, source(rooms("Warm", 1)), actor=manager, dry_run=True)  # the caches of the request
        self.assertEqual(
            self.queries(LOCATIONS, rooms("A", 3), manager), self.queries(LOCATIONS, rooms("B", 12), manager)
        )

        def people(n: int, first: str) -> str:
            rows = "".join(f"{first},Batch {i},batch{i}@x.example,{org}\n" for i in range(n))
            return "First name,Last name,Email,Organisation\n" + rows

        keeper = self.admin
        self.queries(PEOPLE, people(12, "New"), keeper)  # created, then updated on their email
        few = self.queries(PEOPLE, people(3, "Changed"), keeper, update_on="email")
        many = self.queries(PEOPLE, people(12, "Again"), keeper, update_on="email")
        self.assertEqual(few, many)

    def test_a_unique_constraint_of_several_fields_is_checked_in_the_file_and_the_database(self) -> None:
        hq = LocationFactory(name="HQ", organisation=self.p.org_a)
        LocationFactory(name="Taken", organisation=self.p.org_a, parent=hq)
        org = self.p.org_a.name
        content = f"Name,Kind,Organisation,Parent\nRoom,room,{org},HQ\nRoom,room,{org},HQ\nTaken,room,{org},HQ\n"
        report = self.do(LOCATIONS, content, user=self.p.users[Role.CONFIGURATION_MANAGER])
        self.assertEqual(
            self.problems(report),
            [
                (3, "", "Row 2 has the same organisation, parent and name."),
                (4, "", "Location with this Organisation, Parent and Name already exists."),
            ],
        )
        self.assertFalse(Location.objects.filter(name="Room").exists())
        report = self.do(LOCATIONS, f"Name,Kind,Organisation,Parent\nRoom,room,{org},HQ\nRoom,room,{org},\n")
        self.assertTrue(report.committed, "the same name under another parent (none) is another location")


class PurgeTests(ImportTestCase):
    def test_dry_runs_left_for_a_day_are_forgotten_with_their_files(self) -> None:
        stale, _ = imports.check_file(ORGS, io.BytesIO(b"Name,Kind\nOld,customer\n"), "old.csv", actor=self.admin)
        fresh, _ = imports.check_file(ORGS, io.BytesIO(b"Name,Kind\nNew,customer\n"), "new.csv", actor=self.admin)
        done, _ = imports.check_file(ORGS, io.BytesIO(b"Name,Kind\nDone,customer\n"), "done.csv", actor=self.admin)
        imports.commit_job(done, actor=self.admin)
        storage, stale_file = imports._storage(), stale.file
        a_day_ago = timezone.now() - dt.timedelta(days=1, minutes=1)
        ImportJob.objects.filter(pk__in=[stale.pk, done.pk]).update(created_at=a_day_ago)
        self.assertEqual(imports.purge_jobs(), 1, "one file removed")
        self.assertFalse(storage.exists(stale_file))
        self.assertEqual(set(ImportJob.objects.values_list("pk", flat=True)), {fresh.pk, done.pk})
        self.assertTrue(storage.exists(ImportJob.objects.get(pk=fresh.pk).file))


class KeyTests(ImportTestCase):
    def test_the_key_is_a_field_of_the_record_itself_and_the_page_offers_the_same(self) -> None:
        for key in ("email", "Email", "id"):
            header = "ID" if key == "id" else "Email"
            report = imports.run(PEOPLE, source(f"{header}\n1\n"), actor=self.admin, dry_run=True, update_on=key)
            self.assertEqual(report.rows, 1, key)
        with self.assertRaises(imports.ImportRefused) as refused:
            imports.run(PEOPLE, source("Organisation\nx\n"), actor=self.admin, dry_run=True, update_on="Organisation")
        self.assertEqual(refused.exception.field, "update_on")
        self.assertIn("use id, first_name, last_name, email", refused.exception.message)
        self.client.force_login(self.admin)
        page = self.client.get(reverse("core:person_import"))
        offered = [value for value, _ in page.context["key_choices"]]
        self.assertEqual(offered, ["", *(name for name, _ in imports.key_fields(PEOPLE))])
        self.assertNotIn("organisation", offered)
