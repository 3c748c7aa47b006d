"""The iTop importer (`cmdb.itop`) on iTop's own sample data: counts after the import equal counts computed here from
the XML, a known server's attributes and relationships, an impact path (a farm's hypervisors down reach the
application solutions and their customer), a dry run writes nothing, a corrupted copy is refused object by object
(file, class, id, field) with nothing written, a second import is idempotent; who may use the page, the API and the
command.

The data set lives outside the project (`../shared/datasets` beside the repository; a worktree's is two levels
up): the tests are skipped, saying so, where it is missing."""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import ClassVar

from django.core.management import CommandError, call_command
from django.test import TestCase
from django.urls import reverse

from meridian.cmdb import impact, itop
from meridian.cmdb.models import ConfigurationItem, RedundancyGroup, Relationship
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, ImportJob, Location, Organisation, Person, Team
from meridian.core.services import get_system_actor
from meridian.core.testing import api_client, make_principals
from meridian.core.testing_attachments import use_own_attachment_storage

REPO = Path(__file__).resolve().parents[3]
CANDIDATES = [REPO.parent / "shared" / "datasets", REPO.parent.parent / "shared" / "datasets"]
DATASET = next((d / "itop-sample-data" for d in CANDIDATES if (d / "itop-sample-data").is_dir()), None)
SKIP_REASON = f"the iTop sample data set is not beside the repository (looked in {', '.join(map(str, CANDIDATES))})"

CI_CLASSES = ["Server", "NetworkDevice", "Rack", "Farm", "Hypervisor", "VirtualMachine", "DBServer", "WebServer"]
CI_CLASSES += ["DatabaseSchema", "WebApplication", "ApplicationSolution", "Service", "ServiceSubcategory"]


def objects(root: Path) -> list[tuple[str, ET.Element]]:
    """(module, element) of every object of the XML files, read here independently of the importer; one flavour of
    the service module (the README: the same objects in both)."""
    found = []
    for path in sorted(root.rglob("*.xml")):
        module = path.relative_to(root).parts[0]
        if module != "itop-service-mgmt-provider":
            found += [(module, e) for e in ET.parse(path).getroot()]  # noqa: S314 (the data set, not an upload)
    return found


def distinct(items: list[tuple[str, ET.Element]], cls: str) -> dict[str, ET.Element]:
    return {e.get("id"): e for _, e in items if e.tag == cls}


def expected_relationships(items: list[tuple[str, ET.Element]]) -> int:
    """Each non-zero link field that makes a relationship, and each link object (per module: ids are a module's)."""
    fields = ("virtualhost_id", "server_id", "system_id", "dbserver_id", "webserver_id", "rack_id", "enclosure_id")
    count = 0
    for cls in CI_CLASSES:
        for e in distinct(items, cls).values():
            count += sum(1 for f in (*fields, "service_id") if (e.findtext(f) or "0") not in ("", "0"))
    related = ("lnkApplicationSolutionToFunctionalCI", "lnkFunctionalCIToService", "lnkConnectableCIToNetworkDevice")
    links = {(m, e.tag, e.get("id")) for m, e in items if e.tag in related}
    return count + len(links)


def table_counts() -> dict[str, int]:
    return {
        "cis": ConfigurationItem.objects.count(),
        "locations": Location.objects.count(),
        "organisations": Organisation.objects.count(),
        "people": Person.objects.count(),
        "teams": Team.objects.count(),
        "relationships": Relationship.objects.count(),
        "groups": RedundancyGroup.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def zipped(root: Path) -> io.BytesIO:
    upload = io.BytesIO(itop.zip_directory(root))
    upload.name = "itop-sample-data.zip"
    return upload


class ItopCase(TestCase):
    items: ClassVar[list[tuple[str, ET.Element]]]

    @classmethod
    def setUpClass(cls) -> None:
        if DATASET is None:
            raise __import__("unittest").SkipTest(SKIP_REASON)
        super().setUpClass()

    @classmethod
    def setUpTestData(cls) -> None:
        assert DATASET is not None
        cls.items = objects(DATASET)
        cls.p = make_principals()
        cls.manager = cls.p.users[Role.CONFIGURATION_MANAGER]
        cls.customer = cls.p.customer_a

    def data(self) -> itop.Data:
        assert DATASET is not None
        return itop.read_directory(DATASET)


class ImportedSampleTests(ItopCase):
    """After one import of the whole sample (by the system actor, as the command does by default)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.before = table_counts()
        assert DATASET is not None
        cls.report = itop.run(itop.read_directory(DATASET), actor=get_system_actor(), dry_run=False)

    def test_counts_equal_those_of_the_files(self) -> None:
        items, after = self.items, table_counts()
        self.assertTrue(self.report.committed, [str(p) for p in self.report.problems])
        organisations = distinct(items, "Organization")
        # the provider is the CMDB's internal organisation: only the customer is new
        self.assertEqual(after["organisations"] - self.before["organisations"], len(organisations) - 1)
        self.assertEqual(after["locations"] - self.before["locations"], len(distinct(items, "Location")))
        self.assertEqual(after["people"] - self.before["people"], len(distinct(items, "Person")))
        self.assertEqual(after["teams"] - self.before["teams"], len(distinct(items, "Team")))
        by_class = {cls: len(distinct(items, cls)) for cls in CI_CLASSES}
        self.assertEqual(after["cis"] - self.before["cis"], sum(by_class.values()))
        self.assertEqual({cls: self.report.counts[cls]["created"] for cls in CI_CLASSES}, by_class)
        self.assertEqual(after["relationships"] - self.before["relationships"], expected_relationships(items))
        self.assertEqual(after["groups"] - self.before["groups"], len(distinct(items, "Farm")))
        kinds = Counter(ConfigurationItem.objects.values_list("ci_class__name", flat=True))
        self.assertEqual(kinds["Service"], by_class["Service"] + by_class["ServiceSubcategory"])
        self.assertEqual(kinds["Virtual machine"], by_class["VirtualMachine"])
        demo = Organisation.objects.get(name="Demo")
        self.assertEqual(demo.kind, "customer")
        self.assertFalse(Organisation.objects.filter(name="IT Department").exists())  # the provider: ours
        notes = " ".join(self.report.notes)
        for not_yet in ("customer contracts", "SLAs", "SLTs", "coverage windows"):
            self.assertIn(not_yet, notes)

    def test_one_audit_event_per_write_by_the_actor(self) -> None:
        mine = AuditEvent.objects.filter(actor_id=get_system_actor().pk, reason__startswith="iTop import")
        created = Counter(mine.filter(action="create").values_list("record_type", flat=True))
        self.assertEqual(created["cmdb.configurationitem"], ConfigurationItem.objects.count())
        self.assertEqual(created["cmdb.relationship"], Relationship.objects.count())
        self.assertEqual(sum(created.values()), self.report.total("created"))

    def test_a_known_server_with_its_attributes_and_relationships(self) -> None:
        server = distinct(self.items, "Server")["2"]
        brand = distinct(self.items, "Brand")[server.findtext("brand_id")].findtext("name")
        model = distinct(self.items, "Model")[server.findtext("model_id")].findtext("name")
        family = distinct(self.items, "OSFamily")[server.findtext("osfamily_id")].findtext("name")
        version = distinct(self.items, "OSVersion")[server.findtext("osversion_id")].findtext("name")
        ci = ConfigurationItem.objects.get(custom__itop_id="Server:2")
        self.assertEqual((ci.name, ci.ci_class.name, ci.status), ("Server1", "Server", "live"))
        self.assertEqual((ci.organisation.name, ci.location.name), ("Demo", "Bordeaux"))
        self.assertEqual(ci.criticality, "low")
        self.assertEqual(
            {k: ci.custom.get(k) for k in ("manufacturer", "model", "operating_system")},
            {"manufacturer": brand, "model": model, "operating_system": f"{family} {version}"},
        )
        into = {(r.source.name, r.kind.name) for r in Relationship.objects.filter(target=ci)}
        self.assertEqual(into, {("ESX1", "Runs on")})  # the hypervisor runs on it
        server4 = ConfigurationItem.objects.get(custom__itop_id="Server:15")
        self.assertEqual(
            (server4.custom["serial_number"], server4.custom["management_ip"], server4.custom["warranty_end"]),
            ("US3215687014", "10.10.24.2", "2025-07-29"),
        )
        # a functional CI id of two modules (Server 15, VirtualMachine 15): each module's link finds its own
        iis = ConfigurationItem.objects.get(custom__itop_id="WebServer:23")
        self.assertEqual([r.target.name for r in iis.relationships_out.all()], ["Server4"])

    def test_a_farm_is_a_redundancy_group_of_its_hypervisors(self) -> None:
        group = RedundancyGroup.objects.get(ci__custom__itop_id="Farm:7")
        self.assertEqual(sorted(m.name for m in group.members.all()), ["ESX1", "ESX2"])
        self.assertEqual(group.required_up, 1)  # iTop's default: the farm is up while one hypervisor is

    def test_hypervisors_down_reach_the_application_solutions_and_their_customer(self) -> None:
        admin = self.p.users[Role.ADMINISTRATOR]
        esx1, esx2 = (ConfigurationItem.objects.get(name=n) for n in ("ESX1", "ESX2"))
        # one hypervisor down: the farm keeps running its virtual machines
        self.assertEqual(impact.describe(impact.analyse([esx1.pk]), admin)["count"], 0)
        found = impact.describe(impact.analyse([esx1.pk, esx2.pk]), admin)
        paths = {r["name"]: r["path_text"] for r in found["results"]}
        self.assertTrue({"Cluster1", "VM1", "Apache", "Sugar CRM", "CRM", "ERP", "Sales web site"} <= set(paths))
        self.assertIn("Cluster1", paths["CRM"])
        self.assertEqual([o["name"] for o in found["organisations"]], ["Demo"])

    def test_the_same_files_again_change_nothing(self) -> None:
        before = table_counts()
        report = itop.run(self.data(), actor=get_system_actor(), dry_run=False)
        self.assertTrue(report.committed, [str(p) for p in report.problems])
        self.assertEqual((report.total("created"), report.total("updated")), (0, 0))
        self.assertEqual(table_counts(), before)

    def test_a_configuration_manager_checks_and_imports_on_the_page(self) -> None:
        assert DATASET is not None
        use_own_attachment_storage(self)
        self.client.force_login(self.manager)
        self.assertEqual(self.client.get(reverse("cmdb:itop_import")).status_code, 200)
        response = self.client.post(reverse("cmdb:itop_import"), {"file": zipped(DATASET)})
        self.assertEqual(response.status_code, 303)
        page = self.client.get(response["Location"])
        self.assertContains(page, "Every object passed the checks")
        response = self.client.post(response["Location"], {"step": "commit"})  # the task runs at once in tests
        job = ImportJob.objects.get(created_by=self.manager, record_type=itop.JOB_TYPE)
        self.assertEqual(job.status, "done")
        self.assertEqual(job.report["counts"]["Server"]["unchanged"], 4)

    def test_the_api_dry_run_then_commit_by_token(self) -> None:
        assert DATASET is not None
        use_own_attachment_storage(self)
        copy = Path(self.enterContext(tempfile.TemporaryDirectory())) / "itop"
        shutil.copytree(DATASET, copy)
        servers = copy / "itop-config-mgmt" / "data.sample.servers.xml"
        servers.write_text(
            servers.read_text().replace("<asset_number></asset_number>", "<asset_number>A-7</asset_number>", 1)
        )
        client = api_client(self.manager)
        before = table_counts()
        response = client.post(reverse("api:cmdb-itop-import"), {"file": zipped(copy)}, format="multipart")
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(body["counts"]["Server"], {"created": 0, "updated": 1, "unchanged": 3})
        self.assertEqual(table_counts(), before)
        response = client.post(
            reverse("api:cmdb-itop-import"), {"token": body["token"], "dry_run": "false"}, format="multipart"
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(ConfigurationItem.objects.get(custom__itop_id="Server:2").custom["asset_number"], "A-7")


class CheckBeforeImportTests(ItopCase):
    """A dry run, a corrupted copy, and who may import: on a CMDB without the sample."""

    def corrupted(self) -> Path:
        assert DATASET is not None
        copy = Path(self.enterContext(tempfile.TemporaryDirectory())) / "itop"
        shutil.copytree(DATASET, copy)

        def edit(relative: str, pattern: str, new: str) -> None:
            path = copy / relative
            text, n = re.subn(pattern, new, path.read_text(), count=1, flags=re.DOTALL)
            assert n == 1, pattern
            path.write_text(text)

        edit(
            "itop-config-mgmt/data.sample.servers.xml", r"<location_id>1</location_id>", "<location_id>9</location_id>"
        )
        edit("itop-virtualization-mgmt/data.sample.vm.xml", r"<status>production</status>", "<status>exploded</status>")
        edit("itop-structure/data.sample.locations.xml", r"<name>Grenoble</name>", "<name></name>")
        return copy

    def test_a_dry_run_reports_what_it_would_do_and_writes_nothing(self) -> None:
        before = table_counts()
        report = itop.run(self.data(), actor=get_system_actor(), dry_run=True)
        self.assertTrue(report.ok, [str(p) for p in report.problems])
        self.assertFalse(report.committed)
        self.assertEqual(report.counts["relationships"]["created"], expected_relationships(self.items))
        self.assertIn("Nothing was written", report.summary())
        self.assertEqual(table_counts(), before)

    def test_a_corrupted_copy_is_refused_by_file_class_id_and_field_with_nothing_written(self) -> None:
        before = table_counts()
        report = itop.run(itop.read_directory(self.corrupted()), actor=get_system_actor(), dry_run=False)
        self.assertFalse(report.committed)
        self.assertEqual(table_counts(), before)
        problems = {p.where: p for p in report.problems}
        self.assertEqual(problems["Server 2.location_id"].message, "location 9 is not in the files.")
        self.assertEqual(problems["Server 2.location_id"].file, "itop-config-mgmt/data.sample.servers.xml")
        self.assertIn(
            "“exploded” is not an iTop status of a VirtualMachine", problems["VirtualMachine 12.status"].message
        )
        self.assertEqual(problems["Location 2.name"].message, "A Location must have a name.")
        # who is at that location is refused too, and says why
        self.assertIn("Its location 2 was not imported", " ".join(p.message for p in report.problems))

    def test_the_command_refuses_a_corrupted_copy_and_reports_it(self) -> None:
        err = io.StringIO()
        before = table_counts()
        with self.assertRaisesMessage(CommandError, "nothing was written"):
            call_command("cmdb_import_itop", str(self.corrupted()), stdout=io.StringIO(), stderr=err)
        self.assertIn(
            "itop-config-mgmt/data.sample.servers.xml: Server 2.location_id: location 9 is not in the files.",
            err.getvalue(),
        )
        self.assertEqual(table_counts(), before)

    def test_the_command_dry_run_of_a_zip_then_import_as_a_login(self) -> None:
        assert DATASET is not None
        archive = Path(self.enterContext(tempfile.TemporaryDirectory())) / "itop.zip"
        archive.write_bytes(itop.zip_directory(DATASET))
        out = io.StringIO()
        call_command("cmdb_import_itop", str(archive), "--dry-run", stdout=out)
        self.assertIn("Server: 4 new", out.getvalue())
        self.assertEqual(ConfigurationItem.objects.count(), 0)
        with self.assertRaisesMessage(CommandError, "No active user “nobody”"):
            call_command("cmdb_import_itop", str(DATASET), "--as", "nobody")

    def test_files_that_are_not_itop_data_are_refused(self) -> None:
        for content, message in ((b"not a zip", "Not a .zip"), (itop.zip_directory(Path("/nonexistent")), "No .xml")):
            with self.subTest(message=message), self.assertRaisesMessage(itop.ItopRefused, message):
                itop.read_zip(io.BytesIO(content))
        with self.assertRaisesMessage(itop.ItopRefused, "No iTop data"):
            itop.parse([("a.xml", b"<Set><Foo id='1'/></Set>")])
        data = itop.parse(
            [
                ("a.xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><Set/>"),
                ("b.xml", b"<Set><Location id='1'><name>X</name></Location></Set>"),
            ]
        )
        self.assertIn("document type declaration", data.malformed[0][1])

    def test_a_configuration_manager_may_not_create_organisations_or_people(self) -> None:
        report = itop.run(self.data(), actor=self.manager, dry_run=True)
        self.assertFalse(report.ok)
        organisation = next(p for p in report.problems if p.kind == "Organization")
        self.assertEqual(organisation.where, "Organization 2")
        self.assertIn("organisation", organisation.message.lower())

    def test_a_configuration_manager_imports_what_an_administrator_brought_in_first(self) -> None:
        itop.run(self.data(), actor=self.p.users[Role.ADMINISTRATOR], dry_run=False)
        report = itop.run(self.data(), actor=self.manager, dry_run=False)
        self.assertTrue(report.committed, [str(p) for p in report.problems])
        self.assertEqual(report.total("created"), 0)

    def test_a_customer_user_may_not_use_the_page_the_api_or_the_importer(self) -> None:
        assert DATASET is not None
        use_own_attachment_storage(self)
        self.client.force_login(self.customer)
        self.assertEqual(self.client.get(reverse("cmdb:itop_import")).status_code, 403)
        self.assertEqual(self.client.post(reverse("cmdb:itop_import"), {"file": zipped(DATASET)}).status_code, 403)
        response = api_client(self.customer).post(
            reverse("api:cmdb-itop-import"), {"file": zipped(DATASET)}, format="multipart"
        )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(ImportJob.objects.count(), 0)
        with self.assertRaises(itop.PermissionDenied):
            itop.run(self.data(), actor=self.customer, dry_run=True)
