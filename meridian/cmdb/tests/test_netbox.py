"""The NetBox importer (`cmdb.netbox`) on the NetBox project's own demo inventory: counts after the import equal
counts computed here from the JSON, a known router's relationships, an impact path (a circuit down takes its
router and the switch behind it), a dry run writes nothing, a corrupted copy is refused object by object with
nothing written, a second import is idempotent and a changed device is updated; who may use the page, the API and
the command.

The data set lives outside the project (`../shared/datasets` beside the repository; a worktree's is two levels
up): the tests are skipped, saying so, where it is missing."""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from django.core.management import CommandError, call_command
from django.test import TestCase
from django.urls import reverse

from meridian.cmdb import impact, netbox
from meridian.cmdb.models import ConfigurationItem, Relationship
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, ImportJob, Location, Organisation
from meridian.core.services import get_system_actor
from meridian.core.testing import api_client, make_principals
from meridian.core.testing_attachments import use_own_attachment_storage

REPO = Path(__file__).resolve().parents[3]
CANDIDATES = [REPO.parent / "shared" / "datasets", REPO.parent.parent / "shared" / "datasets"]
DATASET = next((d / "netbox-demo-data" / "netbox-demo-v3.6.json" for d in CANDIDATES if d.is_dir()), None)
SKIP_REASON = f"the NetBox demo data set is not beside the repository (looked in {', '.join(map(str, CANDIDATES))})"


def load() -> list[dict[str, Any]]:
    assert DATASET is not None
    return list(json.loads(DATASET.read_text()))


def of(items: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [o for o in items if o["model"] == model]


def dump_of(items: list[dict[str, Any]]) -> netbox.Dump:
    return netbox.read_dump(io.BytesIO(json.dumps(items).encode()))


def expected_relationships(items: list[dict[str, Any]]) -> int:
    """Computed here from the JSON, independently of the importer: a VM on its cluster (and device); each cable
    between two ports of devices or circuit terminations, one per pair of ends and kind whatever the direction
    (a power cable is one kind, every other cable the other)."""
    ports = {}
    for model in ("interface", "frontport", "rearport", "powerport", "poweroutlet"):
        for o in of(items, f"dcim.{model}"):
            ports[(model, o["pk"])] = ("device", o["fields"]["device"])
    for o in of(items, "circuits.circuittermination"):
        ports[("circuittermination", o["pk"])] = ("circuit", o["fields"]["circuit"])
    ends: dict[int, dict[str, list[tuple[Any, str]]]] = {}
    for t in of(items, "dcim.cabletermination"):
        f = t["fields"]
        end = ports.get((f["termination_type"][1], f["termination_id"]))
        if end is not None:
            ends.setdefault(f["cable"], {}).setdefault(f["cable_end"], []).append((end, f["termination_type"][1]))
    pairs = set()
    for sides in ends.values():
        for a, a_type in sides.get("A", []):
            for b, b_type in sides.get("B", []):
                power = "power" in a_type or "power" in b_type
                if a != b and (not power or {a_type, b_type} == {"powerport", "poweroutlet"}):
                    pairs.add((frozenset([a, b]), power))
    vms = of(items, "virtualization.virtualmachine")
    return len(pairs) + sum(1 for v in vms if v["fields"]["cluster"]) + sum(1 for v in vms if v["fields"]["device"])


def table_counts() -> dict[str, int]:
    return {
        "cis": ConfigurationItem.objects.count(),
        "locations": Location.objects.count(),
        "organisations": Organisation.objects.count(),
        "relationships": Relationship.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


class NetboxCase(TestCase):
    items: ClassVar[list[dict[str, Any]]]

    @classmethod
    def setUpClass(cls) -> None:
        if DATASET is None:
            raise __import__("unittest").SkipTest(SKIP_REASON)
        super().setUpClass()

    @classmethod
    def setUpTestData(cls) -> None:
        cls.items = load()
        cls.p = make_principals()
        cls.manager = cls.p.users[Role.CONFIGURATION_MANAGER]
        cls.customer = cls.p.customer_a


class ImportedInventoryTests(NetboxCase):
    """After one import of the whole demo inventory (by the system actor, as the command does by default)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.before = table_counts()
        cls.report = netbox.run(dump_of(cls.items), actor=get_system_actor(), dry_run=False)

    def test_counts_equal_those_of_the_file(self) -> None:
        items, after = self.items, table_counts()
        self.assertTrue(self.report.committed, [str(p) for p in self.report.problems])
        tenants, providers = of(items, "tenancy.tenant"), of(items, "circuits.provider")
        self.assertEqual(after["organisations"] - self.before["organisations"], len(tenants) + len(providers))
        places = sum(len(of(items, m)) for m in ("dcim.region", "dcim.site", "dcim.location", "dcim.rack"))
        self.assertEqual(after["locations"] - self.before["locations"], places)
        cis = sum(
            len(of(items, m))
            for m in ("dcim.device", "virtualization.virtualmachine", "virtualization.cluster", "circuits.circuit")
        )
        self.assertEqual(after["cis"] - self.before["cis"], cis)
        self.assertEqual(after["relationships"] - self.before["relationships"], expected_relationships(items))
        self.assertEqual(self.report.counts["devices"]["created"], len(of(items, "dcim.device")))
        kinds = Counter(ConfigurationItem.objects.values_list("ci_class__name", flat=True))
        roles = {o["pk"]: o["fields"]["name"] for o in of(items, "dcim.devicerole")}
        switches = sum(
            1
            for d in of(items, "dcim.device")
            if "Switch" in roles[d["fields"]["role"]] or "Router" in roles[d["fields"]["role"]]
        )
        self.assertEqual(kinds["Network device"], switches)
        self.assertEqual(kinds["Virtual machine"], len(of(items, "virtualization.virtualmachine")))
        self.assertEqual(
            set(
                Organisation.objects.filter(name__in=[t["fields"]["name"] for t in providers]).values_list(
                    "kind", flat=True
                )
            ),
            {"supplier"},
        )

    def test_one_audit_event_per_write_by_the_actor(self) -> None:
        system = get_system_actor()
        mine = AuditEvent.objects.filter(actor_id=system.pk, reason__startswith="NetBox import")
        created = Counter(mine.filter(action="create").values_list("record_type", flat=True))
        self.assertEqual(created["cmdb.configurationitem"], ConfigurationItem.objects.count())
        self.assertEqual(created["cmdb.relationship"], Relationship.objects.count())
        self.assertEqual(
            created["core.location"],
            self.report.total("created")
            - sum(
                self.report.counts[k]["created"]
                for k in (
                    "tenants",
                    "providers",
                    "clusters",
                    "devices",
                    "virtual_machines",
                    "circuits",
                    "relationships",
                )
            ),
        )
        # a CI is created planned and walks its lifecycle to live: build, go live (one event each)
        live = ConfigurationItem.objects.filter(status="live").count()
        self.assertEqual(mine.filter(action="transition").count(), 2 * live)
        self.assertEqual(mine.count(), self.report.total("created") + 2 * live)

    def test_a_router_in_its_rack_with_its_attributes_and_relationships(self) -> None:
        router = ConfigurationItem.objects.get(custom__netbox_id="dcim.device:1")
        self.assertEqual(router.name, "dmi01-akron-rtr01")
        self.assertEqual(router.ci_class.name, "Network device")
        self.assertEqual(router.status, "live")
        self.assertEqual(router.organisation.name, "Dunder-Mifflin, Inc.")
        self.assertEqual(str(router.location), "North America / United States / Ohio / DM-Akron / Comms closet")
        self.assertEqual(
            {k: router.custom.get(k) for k in ("manufacturer", "model", "platform", "device_role")},
            {"manufacturer": "Cisco", "model": "ISR 1111-8P", "platform": "Cisco IOS", "device_role": "Router"},
        )
        out = {(r.kind.name, r.target.name) for r in Relationship.objects.filter(source=router)}
        self.assertEqual(
            out,
            {("Connects to", "KKDG4923"), ("Connects to", "1002840283"), ("Powered by", "dmi01-akron-pdu01")},
        )
        into = {(r.source.name, r.kind.name) for r in Relationship.objects.filter(target=router)}
        self.assertEqual(into, {("dmi01-akron-sw01", "Connects to")})  # the switch reaches the network through it

    def test_a_circuit_down_takes_its_router_and_the_switch_behind_it(self) -> None:
        circuit = ConfigurationItem.objects.get(name="KKDG4923")
        self.assertEqual(circuit.custom["circuit_provider"], "Level 3")
        found = impact.describe(impact.analyse([circuit.pk]), self.p.users[Role.ADMINISTRATOR])
        paths = {r["name"]: r["path_text"] for r in found["results"]}
        self.assertEqual(set(paths), {"dmi01-akron-rtr01", "dmi01-akron-sw01"})
        self.assertIn("dmi01-akron-rtr01", paths["dmi01-akron-sw01"])
        self.assertEqual([o["name"] for o in found["organisations"]], ["Dunder-Mifflin, Inc."])
        # "Connects to" propagates to the source only: the switch down takes nothing with it
        switch = ConfigurationItem.objects.get(name="dmi01-akron-sw01")
        self.assertEqual(impact.describe(impact.analyse([switch.pk]), self.p.users[Role.ADMINISTRATOR])["count"], 0)
        # the PDU feeds the router and the switch
        pdu = ConfigurationItem.objects.get(name="dmi01-akron-pdu01")
        down = {
            r["name"] for r in impact.describe(impact.analyse([pdu.pk]), self.p.users[Role.ADMINISTRATOR])["results"]
        }
        self.assertEqual(down, {"dmi01-akron-rtr01", "dmi01-akron-sw01"})

    def test_virtual_machines_run_on_their_cluster(self) -> None:
        vm = of(self.items, "virtualization.virtualmachine")[0]
        cluster = next(c for c in of(self.items, "virtualization.cluster") if c["pk"] == vm["fields"]["cluster"])
        ci = ConfigurationItem.objects.get(custom__netbox_id=f"virtualization.virtualmachine:{vm['pk']}")
        self.assertEqual(
            [(r.kind.name, r.target.name) for r in ci.relationships_out.all()], [("Runs on", cluster["fields"]["name"])]
        )

    def test_the_same_file_again_changes_nothing(self) -> None:
        before = table_counts()
        report = netbox.run(dump_of(self.items), actor=get_system_actor(), dry_run=False)
        self.assertTrue(report.committed)
        self.assertEqual((report.total("created"), report.total("updated")), (0, 0))
        self.assertEqual(report.total("unchanged"), self.report.total("created"))
        self.assertEqual(table_counts(), before)

    def test_a_changed_device_is_updated_in_place(self) -> None:
        items = copy.deepcopy(self.items)
        device = of(items, "dcim.device")[0]
        device["fields"].update(name="dmi01-akron-rtr01-new", status="offline", serial="SN-4711")
        router = ConfigurationItem.objects.get(custom__netbox_id="dcim.device:1")
        audit_before = AuditEvent.objects.count()
        report = netbox.run(dump_of(items), actor=self.manager, dry_run=False)
        self.assertTrue(report.committed, [str(p) for p in report.problems])
        self.assertEqual(report.counts["devices"], {"created": 0, "updated": 1, "unchanged": 71})
        router.refresh_from_db()
        self.assertEqual((router.name, router.status), ("dmi01-akron-rtr01-new", "under_maintenance"))
        self.assertEqual(router.custom["serial_number"], "SN-4711")
        self.assertEqual(router.custom["manufacturer"], "Cisco")  # kept
        events = AuditEvent.objects.order_by("pk")[audit_before:]
        self.assertEqual(
            [(e.action, e.actor_id) for e in events], [("update", self.manager.pk), ("transition", self.manager.pk)]
        )

    def test_a_controlled_device_changes_only_under_an_approved_change_that_lists_it(self) -> None:
        from meridian.changes.choices import ChangeStatus
        from meridian.changes.factories import ChangeFactory
        from meridian.cmdb.choices import CIPolicy

        router = ConfigurationItem.objects.get(custom__netbox_id="dcim.device:1")
        ConfigurationItem.objects.filter(pk=router.pk).update(configuration_policy=CIPolicy.CONTROLLED)
        items = copy.deepcopy(self.items)
        of(items, "dcim.device")[0]["fields"].update(serial="SN-0815")
        audit_before = AuditEvent.objects.count()
        refused = netbox.run(dump_of(items), actor=self.manager, dry_run=False)
        self.assertFalse(refused.committed)
        self.assertTrue(any("under change control" in str(p) for p in refused.problems), refused.problems)
        self.assertEqual(AuditEvent.objects.count(), audit_before)
        change = ChangeFactory(title="Replace the router's chassis", status=ChangeStatus.APPROVED)
        change.configuration_items.set([router])
        report = netbox.run(dump_of(items), actor=self.manager, dry_run=False, authorised_by=change.reference)
        self.assertTrue(report.committed, [str(p) for p in report.problems])
        router.refresh_from_db()
        self.assertEqual(router.custom["serial_number"], "SN-0815")
        event = (
            AuditEvent.objects.filter(record_type="cmdb.configurationitem", record_id=str(router.pk))
            .order_by("id")
            .last()
        )
        self.assertEqual(event.authorised_by, change.reference)

    def test_a_configuration_manager_checks_and_imports_on_the_page(self) -> None:
        use_own_attachment_storage(self)
        self.client.force_login(self.manager)
        page = self.client.get(reverse("cmdb:netbox_import"))
        self.assertEqual(page.status_code, 200)
        assert DATASET is not None
        with DATASET.open("rb") as fileobj:
            response = self.client.post(reverse("cmdb:netbox_import"), {"file": fileobj})
        self.assertEqual(response.status_code, 303)
        job = ImportJob.objects.get(created_by=self.manager, record_type=netbox.JOB_TYPE)
        self.assertEqual(job.status, "checked")
        page = self.client.get(response["Location"])
        self.assertContains(page, "Every object passed the checks")
        self.assertContains(page, 'id="netbox-commit"')
        response = self.client.post(response["Location"], {"step": "commit"})  # the task runs at once in tests
        self.assertEqual(response.status_code, 303)
        job.refresh_from_db()
        self.assertEqual(job.status, "done")
        self.assertTrue(job.report["committed"])
        self.assertEqual(job.report["counts"]["devices"]["unchanged"], 72)
        self.assertEqual(job.file, "")  # the file is gone once imported

    def test_the_api_dry_run_then_commit_by_token(self) -> None:
        use_own_attachment_storage(self)
        items = copy.deepcopy(self.items)
        of(items, "dcim.device")[1]["fields"]["asset_tag"] = "A-0002"
        client = api_client(self.manager)
        url = reverse("api:cmdb-netbox-import")
        upload = io.BytesIO(json.dumps(items).encode())
        upload.name = "netbox.json"
        before = table_counts()
        response = client.post(url, {"file": upload}, format="multipart")
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual((body["dry_run"], body["committed"]), (True, False))
        self.assertEqual(body["counts"]["devices"], {"created": 0, "updated": 1, "unchanged": 71})
        self.assertEqual(table_counts(), before)
        response = client.post(url, {"token": body["token"], "dry_run": "false"}, format="multipart")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertTrue(response.json()["committed"])
        device = ConfigurationItem.objects.get(custom__netbox_id=f"dcim.device:{of(items, 'dcim.device')[1]['pk']}")
        self.assertEqual(device.custom["asset_number"], "A-0002")

    def test_the_endpoint_is_in_the_openapi_schema(self) -> None:
        self.client.force_login(self.manager)
        schema = self.client.get(reverse("schema"), {"format": "json"}).json()
        operation = schema["paths"]["/api/v1/cmdb/netbox/import/"]["post"]
        self.assertEqual(operation["operationId"], "cmdb_netbox_import")
        self.assertIn("multipart/form-data", operation["requestBody"]["content"])


class CheckBeforeImportTests(NetboxCase):
    """A dry run, a corrupted file, and who may import: on a CMDB without the inventory."""

    def corrupted(self) -> list[dict[str, Any]]:
        items = copy.deepcopy(self.items)
        of(items, "dcim.device")[12]["fields"]["site"] = 99
        of(items, "virtualization.virtualmachine")[3]["fields"]["status"] = "exploded"
        of(items, "dcim.site")[5]["fields"]["name"] = ""
        return items

    def test_a_dry_run_reports_what_it_would_do_and_writes_nothing(self) -> None:
        before = table_counts()
        report = netbox.run(dump_of(self.items), actor=get_system_actor(), dry_run=True)
        self.assertEqual(table_counts(), before)
        self.assertTrue(report.ok, [str(p) for p in report.problems])
        self.assertFalse(report.committed)
        self.assertEqual(report.counts["devices"]["created"], len(of(self.items, "dcim.device")))
        self.assertEqual(report.counts["relationships"]["created"], expected_relationships(self.items))
        self.assertIn("Nothing was written", report.summary())

    def test_a_corrupted_file_is_refused_by_object_and_field_with_nothing_written(self) -> None:
        before = table_counts()
        report = netbox.run(dump_of(self.corrupted()), actor=get_system_actor(), dry_run=False)
        self.assertFalse(report.committed)
        self.assertEqual(table_counts(), before)
        messages = {p.where: p.message for p in report.problems}
        self.assertEqual(messages["devices[12].site"], "site 99 is not in the file.")
        self.assertIn("“exploded” is not a NetBox status of a virtual machine", messages["virtual_machines[3].status"])
        self.assertEqual(messages["sites[5].name"], "A site must have a name.")
        site_id = of(self.items, "dcim.site")[5]["pk"]
        racks = [r for r in of(self.items, "dcim.rack") if r["fields"]["site"] == site_id]
        self.assertTrue(racks)  # what stood on that site is refused too, and says why
        rack = of(self.items, "dcim.rack").index(racks[0])
        self.assertEqual(messages[f"racks[{rack}].site"], "Its site was not imported (see its problem).")
        device = next(p for p in report.problems if p.where == "devices[12].site")
        self.assertEqual(device.netbox_id, of(self.items, "dcim.device")[12]["pk"])

    def test_the_command_refuses_a_corrupted_file_and_reports_it(self) -> None:
        path = Path(self.enterContext(__import__("tempfile").TemporaryDirectory())) / "bad.json"
        path.write_text(json.dumps(self.corrupted()))
        before = table_counts()
        err = io.StringIO()
        with self.assertRaisesMessage(CommandError, "nothing was written"):
            call_command("cmdb_import_netbox", str(path), stdout=io.StringIO(), stderr=err)
        self.assertIn("devices[12].site (NetBox id 13): site 99 is not in the file.", err.getvalue())
        self.assertEqual(table_counts(), before)

    def test_the_command_dry_run_then_import_as_a_login(self) -> None:
        assert DATASET is not None
        out = io.StringIO()
        call_command("cmdb_import_netbox", str(DATASET), "--dry-run", stdout=out)
        self.assertIn("devices: 72 new", out.getvalue())
        self.assertEqual(ConfigurationItem.objects.count(), 0)
        with self.assertRaisesMessage(CommandError, "No active user “nobody”"):
            call_command("cmdb_import_netbox", str(DATASET), "--as", "nobody")

    def test_a_file_that_is_not_a_netbox_dump_is_refused(self) -> None:
        for content, message in ((b"{oops", "Not a JSON file"), (b'{"a": 1}', "JSON list"), (b"[]", "No NetBox")):
            with self.subTest(content=content), self.assertRaisesMessage(netbox.NetboxRefused, message):
                netbox.read_dump(io.BytesIO(content))

    def test_a_configuration_manager_may_not_create_organisations(self) -> None:
        # tenants and providers become organisations, which only administrators add: the dry run says so
        report = netbox.run(dump_of(self.items), actor=self.manager, dry_run=True)
        tenant = next(p for p in report.problems if p.kind == "tenants")
        self.assertIn("organisation", tenant.message.lower())
        self.assertEqual(tenant.where, "tenants[0]")

    def test_a_customer_user_may_not_use_the_page_the_api_or_a_job(self) -> None:
        use_own_attachment_storage(self)
        self.client.force_login(self.customer)
        self.assertEqual(self.client.get(reverse("cmdb:netbox_import")).status_code, 403)
        assert DATASET is not None
        with DATASET.open("rb") as fileobj:
            self.assertEqual(self.client.post(reverse("cmdb:netbox_import"), {"file": fileobj}).status_code, 403)
        with DATASET.open("rb") as fileobj:
            response = api_client(self.customer).post(
                reverse("api:cmdb-netbox-import"), {"file": fileobj}, format="multipart"
            )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(ImportJob.objects.count(), 0)
        with self.assertRaises(netbox.PermissionDenied):
            netbox.run(dump_of(self.items), actor=self.customer, dry_run=True)

    def test_another_persons_job_is_not_found(self) -> None:
        use_own_attachment_storage(self)
        job = netbox.save_upload(io.BytesIO(b"[]"), "x.json", actor=self.p.users[Role.ADMINISTRATOR])
        self.client.force_login(self.manager)
        self.assertEqual(self.client.get(reverse("cmdb:netbox_import_job", args=[job.pk])).status_code, 404)

    def test_the_page_refuses_no_file_and_a_bad_file_with_a_message(self) -> None:
        use_own_attachment_storage(self)
        self.client.force_login(self.manager)
        response = self.client.post(reverse("cmdb:netbox_import"), {})
        self.assertContains(response, "Choose the NetBox dump", status_code=400)
        bad = io.BytesIO(b'{"not": "a list"}')
        bad.name = "bad.json"
        response = self.client.post(reverse("cmdb:netbox_import"), {"file": bad})
        self.assertContains(response, "JSON list", status_code=400)
        self.assertEqual(ImportJob.objects.count(), 0)
