"""Import of a NetBox inventory (the JSON `dumpdata` of a NetBox 3.x instance) into the CMDB: organisations,
locations, configuration items and their relationships.

    dump = netbox.read_dump(fileobj)                       # NetboxRefused: not a NetBox dump at all
    report = netbox.run(dump, actor=user, dry_run=True)    # what would be created / updated / unchanged, problems
    report = netbox.run(dump, actor=user, dry_run=False)   # all of it in one transaction, or nothing

What goes where (docs/users/cmdb.md, "Bringing in a NetBox inventory" has the whole table): tenants and providers
become organisations (customers, suppliers); regions, sites, locations and racks the provider's locations, in their
hierarchy; devices CIs of the class their role says (`class_of_role`), clusters, virtual machines and circuits CIs of
their classes; cables "Connects to" (power cables "Powered by") relationships, virtual machines "Runs on" their
cluster (and device).

Every write goes through `core.services` (policy, tenancy, validation, one audit event per write, as `actor`); the
status of a CI moves through its lifecycle's actions from "planned" to the one NetBox's status maps to. A CI is
found again by its `netbox_id` attribute ("dcim.device:12"), an organisation by its name, a location by its
organisation, parent and name, a relationship by its source, kind and target: importing the same file twice changes
nothing, and a changed NetBox object updates the fields the importer maps (name, class, customer, location,
description, the attributes it fills, the status) and leaves the others (owner, teams, criticality, other
attributes) as they are. Nothing is deleted.

A dry run is the real import inside a transaction that is rolled back: it checks every record by exactly the rules
of the commit, and writes nothing. Problems are reported by NetBox object kind, position in the file, NetBox id and
field: `devices[12].site: site 99 is not in the file`."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError

from meridian.cmdb import inventory
from meridian.cmdb.choices import CIStatus
from meridian.cmdb.models import ConfigurationItem
from meridian.core import services
from meridian.core.choices import LocationKind, OrganisationKind
from meridian.core.models import Location, Organisation

JOB_TYPE = "cmdb.netbox"  # ImportJob.record_type of a NetBox import
MAX_PROBLEMS = inventory.MAX_PROBLEMS
KEY_FIELD = "netbox_id"

# the report's kinds, in the order they are imported, and the NetBox model each reads
KINDS: dict[str, str] = {
    "tenants": "tenancy.tenant",
    "providers": "circuits.provider",
    "regions": "dcim.region",
    "sites": "dcim.site",
    "locations": "dcim.location",
    "racks": "dcim.rack",
    "clusters": "virtualization.cluster",
    "devices": "dcim.device",
    "virtual_machines": "virtualization.virtualmachine",
    "circuits": "circuits.circuit",
    "cables": "dcim.cable",
}
RELATIONSHIPS = "relationships"
# the names of the NetBox objects (for messages): "site 99 is not in the file"
NOUNS = {
    "tenancy.tenant": "tenant",
    "circuits.provider": "provider",
    "dcim.region": "region",
    "dcim.site": "site",
    "dcim.location": "location",
    "dcim.rack": "rack",
    "virtualization.cluster": "cluster",
    "virtualization.clustertype": "cluster type",
    "virtualization.clustergroup": "cluster group",
    "dcim.device": "device",
    "dcim.devicerole": "device role",
    "dcim.devicetype": "device type",
    "dcim.manufacturer": "manufacturer",
    "dcim.platform": "platform",
    "dcim.virtualchassis": "virtual chassis",
    "virtualization.virtualmachine": "virtual machine",
    "circuits.circuit": "circuit",
    "circuits.circuittype": "circuit type",
    "circuits.circuittermination": "circuit termination",
    "dcim.cable": "cable",
    "dcim.interface": "interface",
    "dcim.frontport": "front port",
    "dcim.rearport": "rear port",
    "dcim.powerport": "power port",
    "dcim.poweroutlet": "power outlet",
}
# foreign keys checked in the file: kind -> field -> model referred to
REFERENCES: dict[str, dict[str, str]] = {
    "regions": {"parent": "dcim.region"},
    "sites": {"region": "dcim.region", "tenant": "tenancy.tenant"},
    "locations": {"site": "dcim.site", "parent": "dcim.location", "tenant": "tenancy.tenant"},
    "racks": {"site": "dcim.site", "location": "dcim.location", "tenant": "tenancy.tenant"},
    "clusters": {
        "type": "virtualization.clustertype",
        "group": "virtualization.clustergroup",
        "site": "dcim.site",
        "tenant": "tenancy.tenant",
    },
    "devices": {
        "site": "dcim.site",
        "location": "dcim.location",
        "rack": "dcim.rack",
        "tenant": "tenancy.tenant",
        "role": "dcim.devicerole",
        "device_type": "dcim.devicetype",
        "platform": "dcim.platform",
        "virtual_chassis": "dcim.virtualchassis",
    },
    "virtual_machines": {
        "cluster": "virtualization.cluster",
        "device": "dcim.device",
        "site": "dcim.site",
        "tenant": "tenancy.tenant",
        "platform": "dcim.platform",
    },
    "circuits": {"provider": "circuits.provider", "type": "circuits.circuittype", "tenant": "tenancy.tenant"},
}
# names NetBox requires (a device may have none: it is named as NetBox shows it)
NAME_FIELD = {
    "tenants": "name",
    "providers": "name",
    "regions": "name",
    "sites": "name",
    "locations": "name",
    "racks": "name",
    "clusters": "name",
    "virtual_machines": "name",
    "circuits": "cid",
}
L, P, B, T, M, R = (
    CIStatus.LIVE,
    CIStatus.PLANNED,
    CIStatus.IN_BUILD,
    CIStatus.IN_TEST,
    CIStatus.UNDER_MAINTENANCE,
    CIStatus.RETIRED,
)
# NetBox status -> CI lifecycle status, per kind
STATUSES: dict[str, dict[str, str]] = {
    "devices": {
        "active": L,
        "planned": P,
        "staged": B,
        "inventory": P,
        "offline": M,
        "failed": M,
        "decommissioning": R,
    },
    "virtual_machines": {"active": L, "planned": P, "staged": B, "offline": M, "failed": M, "decommissioning": R},
    "clusters": {"active": L, "planned": P, "staging": B, "offline": M, "decommissioning": R},
    "circuits": {
        "active": L,
        "planned": P,
        "provisioning": B,
        "offline": M,
        "deprovisioning": R,
        "decommissioned": R,
    },
}
# the CI attribute -> the NetBox field it comes from (a refused value is reported on the NetBox field)
NETBOX_FIELD = {
    "serial_number": "serial",
    "asset_number": "asset_tag",
    "manufacturer": "device_type",
    "model": "device_type",
    "device_role": "role",
    "cpu_count": "vcpus",
    "memory_gb": "memory",
    "hypervisor": "cluster",
    "circuit_provider": "provider",
    "circuit_type": "type",
    "commit_rate_kbps": "commit_rate",
    "cluster_type": "type",
    "cluster_group": "group",
}
# a device role's name -> (CI class, the Network device "Role" attribute)
ROLE_WORDS: list[tuple[str, str, str]] = [
    ("router", "Network device", "Router"),
    ("switch", "Network device", "Switch"),
    ("firewall", "Network device", "Firewall"),
    ("load balancer", "Network device", "Load balancer"),
    ("access point", "Network device", "Wireless access point"),
    ("wireless", "Network device", "Wireless access point"),
    ("patch", "Patch panel", ""),
    ("pdu", "Power distribution unit", ""),
    ("power", "Power distribution unit", ""),
    ("server", "Server", ""),
]
# which end of a cable is the target ("reaches the network through"): the higher rank; between two interfaces, the
# device whose role is higher in the network (a server < access switch < distribution < core < router)
PORT_RANK = {"interface": 0, "frontport": 1, "rearport": 2, "circuittermination": 3}
ROLE_RANK = [("router", 4), ("core", 3), ("spine", 3), ("distribution", 2), ("aggregation", 2), ("switch", 1)]
POWER = {"powerport", "poweroutlet"}
CLASSES_NEEDED = ["Hardware", "Server", "Virtual machine", "Network device", "Power distribution unit", "Patch panel"]
CLASSES_NEEDED += ["Circuit", "Virtualisation cluster"]
KINDS_NEEDED = ["Connects to", "Runs on", "Powered by"]


class NetboxRefused(inventory.Refused):
    """The file is not a NetBox dump that can be read at all: nothing was checked or written."""


class Problem(inventory.Problem):
    SOURCE = "NetBox"
    ID_KEY = "netbox_id"

    @property
    def netbox_id(self) -> Any:
        return self.ident


class Report(inventory.Report):
    """What a NetBox import did or would do (see `inventory.Report`), per kind of NetBox object."""

    KINDS = tuple(kind for kind in [*KINDS, RELATIONSHIPS] if kind != "cables")
    NOUN = "NetBox object"
    PROBLEM = Problem


@dataclass
class Obj:
    """One NetBox object: its kind's position in the file, its id and fields."""

    model: str
    row: int
    pk: Any
    fields: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.fields.get(name, default)
        return default if value is None else value


class Dump:
    """A NetBox dump read into memory: objects by model, in the file's order, and by id."""

    def __init__(self, items: list[Any]) -> None:
        self.by_model: dict[str, list[Obj]] = defaultdict(list)
        self.index: dict[str, dict[Any, Obj]] = defaultdict(dict)
        self.malformed: list[tuple[str, int, str]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("model"), str):
                self.malformed.append(("", len(self.malformed), "An entry without a “model”."))
                continue
            model = item["model"]
            row = len(self.by_model[model])
            fields = item.get("fields")
            obj = Obj(model, row, item.get("pk"), fields if isinstance(fields, dict) else {})
            self.by_model[model].append(obj)
            if obj.pk is not None:
                self.index[model][obj.pk] = obj

    def of(self, kind: str) -> list[Obj]:
        return self.by_model.get(KINDS[kind], [])

    def get(self, model: str, pk: Any) -> Obj | None:
        return self.index.get(model, {}).get(pk) if pk is not None else None


def read_dump(fileobj: IO[bytes]) -> Dump:
    """Read a NetBox `dumpdata` JSON file (a list of {"model", "pk", "fields"}); NetboxRefused when it is not one."""
    try:
        data = json.load(fileobj)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NetboxRefused(
            f"Not a JSON file ({exc}): export NetBox with `manage.py dumpdata --format json`."
        ) from None
    if not isinstance(data, list):
        raise NetboxRefused("Not a NetBox dump: the file must hold a JSON list of objects with “model” and “fields”.")
    dump = Dump(data)
    if not any(dump.by_model.get(model) for model in KINDS.values()):
        raise NetboxRefused(
            "No NetBox inventory in this file: none of its objects is a tenant, provider, region, site, rack, "
            "device, cluster, virtual machine, circuit or cable."
        )
    return dump


# --- the mapping ------------------------------------------------------------------------------------------------


def class_of_role(role_name: str) -> tuple[str, str]:
    """The CI class of a device role by its name, and the Network device "Role" attribute (or "")."""
    lowered = role_name.lower()
    for word, class_name, device_role in ROLE_WORDS:
        if word in lowered:
            return class_name, device_role
    return "Hardware", ""


def role_rank(role_name: str) -> int:
    lowered = role_name.lower()
    return next((rank for word, rank in ROLE_RANK if word in lowered), 0)


def device_name(dump: Dump, device: Obj) -> str:
    """A device's name, or as NetBox shows a device without one: “<virtual chassis>:<position> (id)”, else
    “<manufacturer> <model> (id)”."""
    name = str(device.get("name", "")).strip()
    if name:
        return name
    chassis = dump.get("dcim.virtualchassis", device.get("virtual_chassis"))
    if chassis is not None:
        return f"{chassis.get('name', 'chassis')}:{device.get('vc_position', '')} ({device.pk})"
    device_type = dump.get("dcim.devicetype", device.get("device_type"))
    if device_type is not None:
        maker = dump.get("dcim.manufacturer", device_type.get("manufacturer"))
        model = f"{maker.get('name')} {device_type.get('model', '')}" if maker else str(device_type.get("model", ""))
        return f"{model.strip()} ({device.pk})"
    return f"Device {device.pk}"


def key_of(obj: Obj) -> str:
    return f"{obj.model}:{obj.pk}"


lifecycle_path = inventory.lifecycle_path


@dataclass
class PlannedRelationship:
    source: str  # NetBox keys of the two CIs
    kind: str
    target: str
    note: str
    origin: tuple[str, int, Any, str]  # kind, row, netbox id, field: where a problem is reported


class Importer(inventory.Writer):
    """One run over a dump (see the module's docstring)."""

    report: Report

    def __init__(
        self,
        dump: Dump,
        *,
        actor: Any,
        dry_run: bool,
        reason: str = "NetBox import",
        progress: Callable[[int], None] | None = None,
        authorised_by: str = "",
    ) -> None:
        super().__init__(
            Report(dry_run),
            actor=actor,
            reason=reason,
            progress=progress,
            authorised_by=authorised_by,  # the change cited for CIs under change control (`core.control`)
            key_field=KEY_FIELD,
        )
        self.dump = dump
        self.bad: set[str] = set()  # NetBox keys of objects refused (their dependants are skipped, and said so)
        self.orgs: dict[str, Organisation] = {}  # NetBox key -> organisation
        self.locations: dict[str, Location] = {}
        self.cis: dict[str, ConfigurationItem] = {}
        self.rels: list[PlannedRelationship] = []

    # --- checks of the file alone ---------------------------------------------------------------------------

    def problem(self, obj: Obj | None, kind: str, field_name: str, message: str) -> None:
        self.report.add(kind, obj.row if obj else None, obj.pk if obj else None, field_name, message)
        if obj is not None:
            self.bad.add(key_of(obj))

    def check_file(self) -> None:
        dump, report = self.dump, self.report
        for _, row, message in dump.malformed:
            report.add("", row, None, "file", message)
        for kind, model in KINDS.items():
            for obj in dump.of(kind):
                report.objects += 1
                if not isinstance(obj.pk, int):
                    self.problem(obj, kind, "pk", "Every NetBox object has a whole-number id.")
                for name, target in REFERENCES.get(kind, {}).items():
                    value = obj.fields.get(name)
                    if value is not None and dump.get(target, value) is None:
                        self.problem(obj, kind, name, f"{NOUNS[target]} {value} is not in the file.")
                if kind in NAME_FIELD and not str(obj.get(NAME_FIELD[kind], "")).strip():
                    self.problem(obj, kind, NAME_FIELD[kind], f"A {NOUNS[model]} must have a name.")
                if kind in STATUSES:
                    status = obj.get("status", "active")
                    if status not in STATUSES[kind]:
                        known = ", ".join(sorted(STATUSES[kind]))
                        self.problem(
                            obj, kind, "status", f"“{status}” is not a NetBox status of a {NOUNS[model]} ({known})."
                        )
        vms_on_nothing = [
            vm for vm in dump.of("virtual_machines") if vm.get("cluster") is None and vm.get("device") is None
        ]
        for vm in vms_on_nothing:
            self.problem(
                vm, "virtual_machines", "cluster", "A virtual machine runs on a cluster or a device: it has neither."
            )
        self._notes()

    def _notes(self) -> None:
        dump, notes = self.dump, self.report.notes
        left_out = {
            "dcim.virtualchassis": "virtual chassis (stacks)",
            "dcim.powerfeed": "power feeds",
            "dcim.powerpanel": "power panels",
            "ipam.prefix": "IP prefixes",
            "ipam.ipaddress": "IP addresses",
            "ipam.vlan": "VLANs",
            "tenancy.contact": "contacts",
            "dcim.module": "modules",
        }
        found = [f"{len(dump.by_model[m])} {label}" for m, label in left_out.items() if dump.by_model.get(m)]
        if found:
            notes.append(f"Not imported (no CMDB record for them yet): {', '.join(found)}.")
        hosts = [d for d in dump.of("devices") if d.get("cluster") is not None]
        if hosts:
            notes.append(
                f"{len(hosts)} device(s) are hosts of a cluster: not related to it (NetBox does not say how many "
                "hosts the cluster needs); make a redundancy group by hand where it matters."
            )

    # --- writing ----------------------------------------------------------------------------------------------

    def refuse(self, obj: Obj | None, kind: str, exc: Exception, fields: dict[str, str] | None = None) -> None:
        """A service's refusal as problems of the object, each on the NetBox field it came from."""
        for where, message in inventory.refusal_messages(exc, fields):
            self.problem(obj, kind, where, message)

    def run(self) -> Report:
        self.check_file()
        inventory.rolled_back_unless_clean(self.report, self.apply)
        return self.report

    def apply(self) -> None:
        found = inventory.needed_defaults(self.report, CLASSES_NEEDED, KINDS_NEEDED, KEY_FIELD, "cmdb 0005")
        if found is None:
            return
        self.classes, self.kinds = found
        self.organisations()
        self.place()
        self.items()
        self.relationships()

    # organisations: tenants (customers) and providers (suppliers), matched by name

    def organisations(self) -> None:
        by_name = {o.name: o for o in Organisation.objects.all()}
        for kind, org_kind in (("tenants", OrganisationKind.CUSTOMER), ("providers", OrganisationKind.SUPPLIER)):
            for obj in self.dump.of(kind):
                self.tick()
                if key_of(obj) in self.bad:
                    continue
                name = str(obj.get("name")).strip()
                existing = by_name.get(name)
                if existing is not None:
                    self.orgs[key_of(obj)] = existing
                    self.report.count(kind, "unchanged")
                    continue
                data = {"name": name, "kind": org_kind, "description": str(obj.get("description", ""))}
                try:
                    org = services.create_record(Organisation, data=data, actor=self.actor, reason=self.reason)
                except (ValidationError, PermissionDenied) as exc:
                    self.refuse(obj, kind, exc)
                    continue
                by_name[name] = self.orgs[key_of(obj)] = org
                self.report.count(kind, "created")

    # locations: regions > sites > locations > racks, all the provider's (its internal organisation)

    def place(self) -> None:
        owner = Organisation.objects.filter(kind=OrganisationKind.INTERNAL).order_by("pk").first()
        if owner is None:
            if any(self.dump.of(k) for k in ("regions", "sites", "locations", "racks")):
                self.report.add("", None, None, "file", "No internal organisation to keep the locations: create one.")
            return
        self.owner = owner
        existing = {(loc.parent_id, loc.name): loc for loc in Location.objects.filter(organisation=owner)}
        dump = self.dump

        def parent_of(kind: str, obj: Obj) -> tuple[Obj | None, str, str]:
            """The NetBox object of the parent location, its kind, and the field it comes from."""
            if kind == "regions" and dump.get("dcim.region", obj.get("parent")):
                return dump.get("dcim.region", obj.get("parent")), "regions", "parent"
            if kind == "sites" and dump.get("dcim.region", obj.get("region")):
                return dump.get("dcim.region", obj.get("region")), "regions", "region"
            if kind in ("locations", "racks"):
                name = "parent" if kind == "locations" else "location"
                if dump.get("dcim.location", obj.get(name)):
                    return dump.get("dcim.location", obj.get(name)), "locations", name
                if dump.get("dcim.site", obj.get("site")):
                    return dump.get("dcim.site", obj.get("site")), "sites", "site"
            return None, "", ""

        location_kind = {"regions": LocationKind.SITE, "sites": LocationKind.SITE}
        visiting: set[str] = set()

        def make(kind: str, obj: Obj) -> Location | None:
            key = key_of(obj)
            if key in self.locations:
                return self.locations[key]
            if key in self.bad or key in visiting:
                if key in visiting:
                    self.problem(obj, kind, "parent", "The parents go round in a circle.")
                return None
            visiting.add(key)
            parent_obj, parent_kind, parent_field = parent_of(kind, obj)
            parent = None
            if parent_obj is not None:
                parent = make(parent_kind, parent_obj)
                if parent is None:
                    if key not in self.bad:
                        self.problem(obj, kind, parent_field, f"Its {parent_field} was not imported (see its problem).")
                    visiting.discard(key)
                    return None
            visiting.discard(key)
            self.tick()
            name = str(obj.get("name")).strip()
            wanted: dict[str, str] = {"kind": location_kind.get(kind, LocationKind.ROOM)}
            if kind == "sites":
                wanted["address"] = str(obj.get("physical_address", ""))
                if obj.get("time_zone"):
                    wanted["time_zone"] = str(obj.get("time_zone"))
            found = existing.get((parent.pk if parent else None, name))
            try:
                if found is None:
                    data = {"name": name, "parent": parent, "organisation": self.owner, **wanted}
                    found = services.create_record(Location, data=data, actor=self.actor, reason=self.reason)
                    self.report.count(kind, "created")
                else:
                    changed = {k: v for k, v in wanted.items() if getattr(found, k) != v}
                    if changed:
                        found = services.update_record(
                            found, data=changed, actor=self.actor, expected_version=found.version, reason=self.reason
                        )
                        self.report.count(kind, "updated")
                    else:
                        self.report.count(kind, "unchanged")
            except (ValidationError, PermissionDenied) as exc:
                self.refuse(obj, kind, exc, {"address": "physical_address", "parent": parent_field})
                return None
            existing[(found.parent_id, found.name)] = found
            self.locations[key] = found
            return found

        for kind in ("regions", "sites", "locations", "racks"):
            for obj in dump.of(kind):
                make(kind, obj)

    # configuration items

    def _org(self, obj: Obj, kind: str) -> tuple[bool, Organisation | None]:
        tenant = obj.get("tenant")
        if tenant is None:
            return True, None
        org = self.orgs.get(f"tenancy.tenant:{tenant}")
        if org is None:
            if key_of(obj) not in self.bad:
                self.problem(obj, kind, "tenant", f"Its tenant {tenant} was not imported (see its problem).")
            return False, None
        return True, org

    def _location(self, obj: Obj, kind: str, *names: str) -> tuple[bool, Location | None]:
        """The location of a CI: the first of its rack, location and site (`names`) that it has; not ok when that
        one was refused (the CI is then skipped, and said so)."""
        for name, model in (("rack", "dcim.rack"), ("location", "dcim.location"), ("site", "dcim.site")):
            if name in names and obj.get(name) is not None:
                found = self.locations.get(f"{model}:{obj.get(name)}")
                if found is None:
                    if key_of(obj) not in self.bad:
                        self.problem(obj, kind, name, f"Its {NOUNS[model]} was not imported (see its problem).")
                    return False, None
                return True, found
        return True, None

    def items(self) -> None:
        existing = {
            str(ci.custom.get(KEY_FIELD)): ci
            for ci in ConfigurationItem.objects.select_related("ci_class").filter(custom__has_key=KEY_FIELD)
        }
        dump = self.dump
        for obj in dump.of("clusters"):
            cluster_type = dump.get("virtualization.clustertype", obj.get("type"))
            group = dump.get("virtualization.clustergroup", obj.get("group"))
            attrs = {
                "cluster_type": cluster_type.get("name", "") if cluster_type else "",
                "cluster_group": group.get("name", "") if group else "",
            }
            ok, site = self._location(obj, "clusters", "site")
            if ok:
                self.item("clusters", obj, str(obj.get("name")), "Virtualisation cluster", site, attrs, existing)
        for obj in dump.of("devices"):
            role = dump.get("dcim.devicerole", obj.get("role"))
            class_name, device_role = class_of_role(str(role.get("name", "")) if role else "")
            device_type = dump.get("dcim.devicetype", obj.get("device_type"))
            maker = dump.get("dcim.manufacturer", device_type.get("manufacturer")) if device_type else None
            platform = dump.get("dcim.platform", obj.get("platform"))
            attrs = {
                "serial_number": str(obj.get("serial", "")),
                "asset_number": str(obj.get("asset_tag", "")),
                "manufacturer": maker.get("name", "") if maker else "",
                "model": device_type.get("model", "") if device_type else "",
                "platform": platform.get("name", "") if platform else "",
            }
            if class_name == "Network device":
                attrs["device_role"] = device_role
            ok, location = self._location(obj, "devices", "rack", "location", "site")
            if ok:
                self.item("devices", obj, device_name(dump, obj), class_name, location, attrs, existing)
        for obj in dump.of("virtual_machines"):
            platform = dump.get("dcim.platform", obj.get("platform"))
            cluster = dump.get("virtualization.cluster", obj.get("cluster"))
            cluster_type = dump.get("virtualization.clustertype", cluster.get("type")) if cluster else None
            memory = obj.get("memory")
            attrs = {
                "platform": platform.get("name", "") if platform else "",
                "hypervisor": cluster_type.get("name", "") if cluster_type else "",
                "cpu_count": int(float(obj.get("vcpus"))) if obj.get("vcpus") not in (None, "") else None,
                "memory_gb": round(int(memory) / 1024) if isinstance(memory, int) and memory >= 1024 else None,
            }
            placed = obj if obj.get("site") is not None or cluster is None else cluster
            ok, location = self._location(placed, "virtual_machines", "site")
            if ok:
                self.item("virtual_machines", obj, str(obj.get("name")), "Virtual machine", location, attrs, existing)
            if cluster is not None:
                self.rels.append(
                    PlannedRelationship(
                        key_of(obj), "Runs on", key_of(cluster), "", ("virtual_machines", obj.row, obj.pk, "cluster")
                    )
                )
            if obj.get("device") is not None:
                self.rels.append(
                    PlannedRelationship(
                        key_of(obj),
                        "Runs on",
                        f"dcim.device:{obj.get('device')}",
                        "",
                        ("virtual_machines", obj.row, obj.pk, "device"),
                    )
                )
        for obj in dump.of("circuits"):
            provider = dump.get("circuits.provider", obj.get("provider"))
            circuit_type = dump.get("circuits.circuittype", obj.get("type"))
            rate = obj.get("commit_rate")
            attrs = {
                "circuit_provider": provider.get("name", "") if provider else "",
                "circuit_type": circuit_type.get("name", "") if circuit_type else "",
                "commit_rate_kbps": rate if isinstance(rate, int) else None,
            }
            self.item("circuits", obj, str(obj.get("cid")), "Circuit", None, attrs, existing)

    def item(
        self,
        kind: str,
        obj: Obj,
        name: str,
        class_name: str,
        location: Location | None,
        attrs: dict[str, Any],
        existing: dict[str, ConfigurationItem],
    ) -> None:
        self.tick()
        key = key_of(obj)
        if key in self.bad:
            return
        ok, organisation = self._org(obj, kind)
        if not ok:
            return
        attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
        status = STATUSES[kind][obj.get("status", "active")]
        wanted: dict[str, Any] = {
            "name": name[:200],
            "ci_class": self.classes[class_name],
            "organisation": organisation,
            "location": location,
            "description": str(obj.get("description", "")),
        }
        fields = {"organisation": "tenant", "location": "site", "ci_class": "role", "custom.netbox_id": "id"}
        fields |= {f"custom.{name}": NETBOX_FIELD.get(name, name) for name in attrs}
        try:
            ci, outcome = self.save_ci(key, wanted, attrs, status, existing.get(key))
        except (ValidationError, PermissionDenied) as exc:
            self.refuse(obj, kind, exc, fields)
            return
        except (services.TransitionNotAllowed, services.StaleVersion) as exc:
            self.problem(obj, kind, "status", str(exc))
            return
        self.report.count(kind, outcome)
        self.cis[key] = ci

    # relationships: cables, and virtual machines on their clusters and devices

    def _cable_ends(self) -> dict[Any, dict[str, list[tuple[str, str]]]]:
        """Cable id -> end (A, B) -> [(NetBox key of the CI, port type)]."""
        dump = self.dump
        ends: dict[Any, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
        for term in dump.by_model.get("dcim.cabletermination", []):
            kind = term.get("termination_type") or ["", ""]
            port_type = kind[1] if isinstance(kind, list) and len(kind) == 2 else ""
            if port_type == "circuittermination":
                ct = dump.get("circuits.circuittermination", term.get("termination_id"))
                if ct is not None and ct.get("circuit") is not None:
                    ends[term.get("cable")][term.get("cable_end")].append(
                        (f"circuits.circuit:{ct.get('circuit')}", port_type)
                    )
            elif port_type in (*PORT_RANK, *POWER):
                port = dump.get(f"dcim.{port_type}", term.get("termination_id"))
                if port is not None and port.get("device") is not None:
                    ends[term.get("cable")][term.get("cable_end")].append(
                        (f"dcim.device:{port.get('device')}", port_type)
                    )
        return ends

    def _role_rank(self, key: str) -> int:
        device = self.dump.get("dcim.device", int(key.split(":")[1]))
        role = self.dump.get("dcim.devicerole", device.get("role")) if device else None
        return role_rank(str(role.get("name", ""))) if role else 0

    def plan_cables(self) -> None:
        ends = self._cable_ends()
        skipped = 0
        for cable in self.dump.of("cables"):
            if cable.get("status", "connected") == "planned":
                skipped += 1
                continue
            a_ends, b_ends = ends.get(cable.pk, {}).get("A", []), ends.get(cable.pk, {}).get("B", [])
            for a, a_port in a_ends:
                for b, b_port in b_ends:
                    if a == b:
                        continue
                    origin = ("cables", cable.row, cable.pk, "")
                    note = f"NetBox cable {cable.get('label') or cable.pk}"
                    if a_port in POWER or b_port in POWER:
                        if {a_port, b_port} == {"powerport", "poweroutlet"}:
                            source, target = (a, b) if a_port == "powerport" else (b, a)
                            self.rels.append(PlannedRelationship(source, "Powered by", target, note, origin))
                        continue
                    rank_a, rank_b = PORT_RANK[a_port], PORT_RANK[b_port]
                    if a_port == b_port == "interface":
                        rank_a, rank_b = self._role_rank(a), self._role_rank(b)
                    source, target = (b, a) if rank_a > rank_b else (a, b)
                    self.rels.append(PlannedRelationship(source, "Connects to", target, note, origin))
        if skipped:
            self.report.notes.append(f"{skipped} planned cable(s) not imported: they connect nothing yet.")

    def relationships(self) -> None:
        self.plan_cables()
        existing = self.existing_relationships(list(self.cis.values()))
        seen: set[tuple[int, int, int]] = set()
        for rel in self.rels:
            self.tick()
            kind, row, pk, field_name = rel.origin
            source, target = self.cis.get(rel.source), self.cis.get(rel.target)
            if source is None or target is None:
                if rel.source not in self.bad and rel.target not in self.bad and kind == "cables":
                    missing = rel.source if source is None else rel.target
                    self.report.add(kind, row, pk, field_name, f"It ends at {missing}, which was not imported.")
                continue  # the end refused is reported with its own problem
            # two cables between the same two devices: one relationship
            outcome = self.relate(source, self.kinds[rel.kind], target, rel.note, existing, seen)
            if outcome in ("created", "unchanged"):
                self.report.count(RELATIONSHIPS, outcome)
            elif outcome is not None:
                self.report.add(kind, row, pk, field_name, outcome)


def may_import(actor: Any) -> bool:
    """Importing an inventory needs the role to add configuration items (configuration managers, administrators)."""
    return inventory.may_import(actor)


def require_import(actor: Any) -> None:
    inventory.require_import(actor, "NetBox")


def run(
    dump: Dump,
    *,
    actor: Any,
    dry_run: bool,
    reason: str = "NetBox import",
    progress: Callable[[int], None] | None = None,
    authorised_by: str = "",
) -> Report:
    """Check (`dry_run=True`) or import a NetBox dump: see the module's docstring. PermissionDenied for an actor who
    may not add configuration items; every other problem is in the report, and a commit with problems writes
    nothing. `authorised_by`: the approved change that lists the CIs under change control the import changes."""
    require_import(actor)
    importer = Importer(
        dump, actor=actor, dry_run=dry_run, reason=reason, progress=progress, authorised_by=authorised_by
    )
    return importer.run()


def total_objects(dump: Dump) -> int:
    """About how many steps an import of the dump takes (for a progress bar)."""
    return sum(len(dump.of(kind)) for kind in KINDS) + len(dump.by_model.get("dcim.cabletermination", [])) // 2


def iter_problems(report: Report) -> Iterable[str]:
    return (str(p) for p in report.problems)


# --- jobs: the page's and the API's two steps (dry run, then commit), and the background task -------------------

SOURCE = inventory.Source(
    name="NetBox",
    job_type=JOB_TYPE,
    default_file="netbox.json",
    read=lambda fileobj: read_dump(fileobj),
    run=lambda dump, **kwargs: run(dump, **kwargs),
    total=lambda dump: total_objects(dump),
    report_class=Report,
)
save_upload = SOURCE.save_upload
check_job = SOURCE.check_job
check_file = SOURCE.check_file
discard = SOURCE.discard
job_for = SOURCE.job_for
commit_job = SOURCE.commit_job
job_progress = SOURCE.job_progress
