"""Import of iTop data (the XML files of iTop's data loader: one `<Set>` per file, one element per object, the
element's name its iTop class, `id` its key, `*_id` fields links to other objects, `0` none) into the CMDB:
organisations, locations, people and teams, configuration items and their relationships.

    data = itop.read_directory(path)                      # a directory of the XML files (the command)
    data = itop.read_zip(fileobj)                         # a .zip of them (the page, the API); ItopRefused: neither
    report = itop.run(data, actor=user, dry_run=True)     # what would be created / updated / unchanged, problems
    report = itop.run(data, actor=user, dry_run=False)    # all of it in one transaction, or nothing

What goes where (docs/users/cmdb.md, "Bringing in iTop data", has the whole table): the provider (the organisation
that delivers the services: `org_id` of a Service or a delivery model, `provider_id` of a customer contract; else the
teams' organisation) is this CMDB's own internal organisation, every other organisation a customer; locations are
their organisation's; persons and teams become people and teams (teams with their members); functional CIs become
CIs of the class `CLASS_MAP` says, with their attributes, and their links relationships (`plan_links`); a farm is a
redundancy group of its hypervisors; services and service subcategories become CIs of class Service.

The machinery is the NetBox importer's (`cmdb.inventory`): every write through `core.services`, a CI found again by
its `itop_id` attribute ("Server:2"), a dry run that is the import rolled back, problems by file, class, id and field:
`Server 2.location_id: location 9 is not in the files.`. iTop ids are unique per class hierarchy, yet the sample
data reuses a functional CI's id in two modules (Server 15 and VirtualMachine 15): a link to a functional CI is
resolved among the objects of its own module first, and is a problem when that leaves several."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError

from meridian.cmdb import inventory
from meridian.cmdb.choices import CIStatus, Criticality
from meridian.cmdb.models import ConfigurationItem, RedundancyGroup
from meridian.cmdb.netbox import class_of_role
from meridian.core import services
from meridian.core.choices import LocationKind, OrganisationKind
from meridian.core.models import Location, Organisation, Person, Team

JOB_TYPE = "cmdb.itop"  # ImportJob.record_type of an iTop import
KEY_FIELD = "itop_id"
MAX_UNPACKED = 500 * 1024 * 1024  # a .zip's XML files together, unpacked
DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
FLAVOURS = ("itop-service-mgmt", "itop-service-mgmt-provider")  # the same objects twice: the first one is read

L, P, B, R = CIStatus.LIVE, CIStatus.PLANNED, CIStatus.IN_BUILD, CIStatus.RETIRED
DEVICE: dict[str, str] = {
    "production": L,
    "implementation": B,
    "stock": P,
    "obsolete": R,
}  # physical and virtual devices
SOFTWARE: dict[str, str] = {"active": L, "inactive": R}  # software instances, application solutions, business processes
SERVICE: dict[str, str] = {"production": L, "implementation": B, "obsolete": R}

# iTop functional CI class -> (CI class, its statuses); in the order they are imported
CLASS_MAP: dict[str, tuple[str, dict[str, str]]] = {
    "Server": ("Server", DEVICE),
    "NetworkDevice": ("Network device", DEVICE),
    "SANSwitch": ("Network device", DEVICE),
    "PC": ("PC", DEVICE),
    "Printer": ("Printer", DEVICE),
    "Peripheral": ("Hardware", DEVICE),
    "Phone": ("Hardware", DEVICE),
    "MobilePhone": ("Hardware", DEVICE),
    "IPPhone": ("Hardware", DEVICE),
    "Tablet": ("Hardware", DEVICE),
    "StorageSystem": ("Hardware", DEVICE),
    "NAS": ("Hardware", DEVICE),
    "TapeLibrary": ("Hardware", DEVICE),
    "Rack": ("Rack", DEVICE),
    "Enclosure": ("Enclosure", DEVICE),
    "PowerSource": ("Power distribution unit", DEVICE),
    "PDU": ("Power distribution unit", DEVICE),
    "Farm": ("Virtualisation cluster", DEVICE),
    "Hypervisor": ("Hypervisor", DEVICE),
    "VirtualMachine": ("Virtual machine", DEVICE),
    "DBServer": ("Database server", SOFTWARE),
    "WebServer": ("Web server", SOFTWARE),
    "Middleware": ("Middleware", SOFTWARE),
    "MiddlewareInstance": ("Middleware", SOFTWARE),
    "PCSoftware": ("Software", SOFTWARE),
    "OtherSoftware": ("Software", SOFTWARE),
    "DatabaseSchema": ("Database", SOFTWARE),
    "WebApplication": ("Application", SOFTWARE),
    "ApplicationSolution": ("Application solution", SOFTWARE),
    "BusinessProcess": ("Service", SOFTWARE),
    "Service": ("Service", SERVICE),
    "ServiceSubcategory": ("Service", SERVICE),
}
FUNCTIONAL = tuple(c for c in CLASS_MAP if c not in ("Service", "ServiceSubcategory"))
PHYSICAL: tuple[str, ...] = (
    "Server",
    "NetworkDevice",
    "SANSwitch",
    "PC",
    "Printer",
    "Peripheral",
    "Phone",
    "MobilePhone",
    "IPPhone",
)
PHYSICAL += ("Tablet", "StorageSystem", "NAS", "TapeLibrary", "Rack", "Enclosure", "PowerSource", "PDU")
WITH_IP = ("Server", "NetworkDevice", "PC", "Printer")  # the classes with a management address attribute
SOFTWARE_INSTANCES = ("DBServer", "WebServer", "MiddlewareInstance", "PCSoftware", "OtherSoftware")
STRUCTURE = ("Organization", "Location", "Person", "Team")
# link classes read: their two ends
LINKS = {
    "lnkPersonToTeam": ("team_id", "person_id"),
    "lnkApplicationSolutionToFunctionalCI": ("applicationsolution_id", "functionalci_id"),
    "lnkApplicationSolutionToBusinessProcess": ("businessprocess_id", "applicationsolution_id"),
    "lnkFunctionalCIToService": ("service_id", "functionalci_id"),
    "lnkConnectableCIToNetworkDevice": ("connectableci_id", "networkdevice_id"),
}
LOOKUPS = ("Brand", "Model", "OSFamily", "OSVersion", "IOSVersion", "NetworkDeviceType", "Software", "ServiceFamily")

# a link field -> (the iTop classes it may refer to, the noun of messages)
POWER = ("PowerSource", "PDU")
REFS: dict[str, tuple[tuple[str, ...], str]] = {
    "org_id": (("Organization",), "organisation"),
    "location_id": (("Location",), "location"),
    "brand_id": (("Brand",), "brand"),
    "model_id": (("Model",), "model"),
    "osfamily_id": (("OSFamily",), "OS family"),
    "osversion_id": (("OSVersion",), "OS version"),
    "iosversion_id": (("IOSVersion",), "IOS version"),
    "networkdevicetype_id": (("NetworkDeviceType",), "network device type"),
    "rack_id": (("Rack",), "rack"),
    "enclosure_id": (("Enclosure",), "enclosure"),
    "powerA_id": (POWER, "power source"),
    "powerB_id": (POWER, "power source"),
    "powerstart_id": (POWER, "power source"),
    "virtualhost_id": (("Hypervisor", "Farm"), "virtual host"),
    "farm_id": (("Farm",), "farm"),
    "server_id": (("Server",), "server"),
    "system_id": (FUNCTIONAL, "functional CI"),
    "software_id": (("Software",), "software"),
    "dbserver_id": (("DBServer",), "database server"),
    "webserver_id": (("WebServer",), "web server"),
    "middleware_id": (("Middleware",), "middleware"),
    "applicationsolution_id": (("ApplicationSolution",), "application solution"),
    "businessprocess_id": (("BusinessProcess",), "business process"),
    "functionalci_id": (FUNCTIONAL, "functional CI"),
    "connectableci_id": (FUNCTIONAL, "functional CI"),
    "networkdevice_id": (("NetworkDevice", "SANSwitch"), "network device"),
    "service_id": (("Service",), "service"),
    "servicefamily_id": (("ServiceFamily",), "service family"),
    "team_id": (("Team",), "team"),
    "person_id": (("Person",), "person"),
    "parent_id": (("Organization",), "organisation"),
}
# the link fields checked, per class read (others, such as a licence, are not imported and not checked)
CHECKED = {
    "Organization": ("parent_id",),
    "Location": ("org_id",),
    "Person": ("org_id", "location_id"),
    "Team": ("org_id",),
    "Service": ("org_id", "servicefamily_id"),
    "ServiceSubcategory": ("service_id",),
    **LINKS,
}
for _cls in FUNCTIONAL:
    CHECKED[_cls] = ("org_id",)
for _cls in PHYSICAL:
    CHECKED[_cls] = (*CHECKED[_cls], "location_id", "brand_id", "model_id", "rack_id", "enclosure_id")
    CHECKED[_cls] = (*CHECKED[_cls], "powerA_id", "powerB_id")
for _cls, _extra in {
    "Server": ("osfamily_id", "osversion_id"),
    "PC": ("osfamily_id", "osversion_id"),
    "NetworkDevice": ("networkdevicetype_id", "iosversion_id"),
    "PDU": ("powerstart_id",),
    "Hypervisor": ("farm_id", "server_id"),
    "VirtualMachine": ("virtualhost_id", "osfamily_id", "osversion_id"),
    "DatabaseSchema": ("dbserver_id",),
    "WebApplication": ("webserver_id",),
    "MiddlewareInstance": ("middleware_id",),
    **dict.fromkeys(SOFTWARE_INSTANCES, ("system_id", "software_id")),
}.items():
    CHECKED[_cls] = (*CHECKED[_cls], *_extra)
# what a model field's refusal is reported on
FIELD_OF = {
    "organisation": "org_id",
    "location": "location_id",
    "ci_class": "finalclass",
    "ci_version": "software_id",
    "last_name": "name",
    "mobile": "mobile_phone",
    "job_title": "function",
    "criticality": "business_criticity",
    "custom.serial_number": "serialnumber",
    "custom.manufacturer": "brand_id",
    "custom.model": "model_id",
    "custom.warranty_end": "end_of_warranty",
    "custom.management_ip": "managementip",
    "custom.operating_system": "osversion_id",
    "custom.cpu_count": "cpu",
    "custom.memory_gb": "ram",
    "custom.device_role": "networkdevicetype_id",
    "custom.platform": "iosversion_id",
    "custom.hypervisor": "virtualhost_id",
    "custom.vendor": "software_id",
    "custom.product": "software_id",
    "custom.engine": "dbserver_id",
    "custom.service_family": "servicefamily_id",
}
CLASSES_NEEDED = sorted({name for name, _ in CLASS_MAP.values()})
KINDS_NEEDED = ["Depends on", "Runs on", "Connects to", "Part of", "Powered by", "Mounted in"]
ENGINES = [("mysql", "MySQL / MariaDB"), ("maria", "MySQL / MariaDB"), ("postgres", "PostgreSQL")]
ENGINES += [("sql server", "Microsoft SQL Server"), ("mssql", "Microsoft SQL Server"), ("oracle", "Oracle")]
NOT_YET = {  # classes of the files that have no record in Meridian yet, and what they are
    "CustomerContract": "customer contracts",
    "ProviderContract": "provider contracts",
    "lnkCustomerContractToService": "services of customer contracts",
    "lnkCustomerContractToProviderContract": "underpinning contracts",
    "SLA": "SLAs",
    "SLT": "SLTs",
    "lnkSLAToSLT": "SLT of SLAs",
    "CoverageWindow": "coverage windows",
    "DeliveryModel": "delivery models",
    "lnkDeliveryModelToContact": "delivery model contacts",
    "ContactType": "contact types",
    "lnkContactToFunctionalCI": "contacts of CIs",
    "lnkContactToService": "contacts of services",
}


class ItopRefused(inventory.Refused):
    """The upload is not iTop data that can be read at all: nothing was checked or written."""


class Problem(inventory.Problem):
    """A problem of an iTop object: its class (`kind`), id (`ident`), field, and the file it is in."""

    SOURCE = "iTop"
    ID_KEY = "itop_id"

    @property
    def where(self) -> str:
        if not self.kind:
            return self.field or "file"
        text = self.kind if self.ident is None else f"{self.kind} {self.ident}"
        return f"{text}.{self.field}" if self.field else text

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}" if self.file else f"{self.where}: {self.message}"


class Report(inventory.Report):
    """What an iTop import did or would do (see `inventory.Report`): per kind of record written (organisations,
    locations, people, teams), per iTop class of CI, redundancy groups and relationships."""

    KINDS = ("organisations", "locations", "people", "teams")
    NOUN = "iTop object"
    PROBLEM = Problem


@dataclass
class Obj:
    """One iTop object: its class, id, the file and module it is in, and its fields (text, stripped)."""

    cls: str
    ident: str
    file: str
    module: str
    fields: dict[str, str]

    @property
    def key(self) -> str:
        if self.cls.startswith("lnk"):  # a link's id is its module's own (two modules' links share ids)
            return f"{self.cls}:{self.ident}@{self.file}"
        return f"{self.cls}:{self.ident}"

    @property
    def shown_id(self) -> Any:
        return int(self.ident) if self.ident.isdigit() else self.ident

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    def ref(self, name: str) -> str | None:
        value = self.fields.get(name, "")
        return None if value in ("", "0") else value


@dataclass
class Data:
    """The iTop files read: objects by class, in the files' order, and by class and id."""

    by_class: dict[str, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    index: dict[str, dict[str, Obj]] = field(default_factory=lambda: defaultdict(dict))
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files not read (the second flavour of a module)
    malformed: list[tuple[str, str]] = field(default_factory=list)  # (file, message)
    conflicts: list[tuple[Obj, str, str]] = field(default_factory=list)  # an object twice: (it, field, message)

    def of(self, cls: str) -> list[Obj]:
        return self.by_class.get(cls, [])

    def get(self, cls: str, ident: str | None) -> Obj | None:
        return self.index.get(cls, {}).get(ident) if ident else None

    def add(self, obj: Obj) -> None:
        known = self.index[obj.cls].get(obj.ident)
        if known is None or (obj.cls.startswith("lnk") and known.file != obj.file):
            self.index[obj.cls][obj.ident] = obj
            self.by_class[obj.cls].append(obj)
            return
        # the same object in two modules' files (an organisation in itop-structure and the service module):
        # one object, its empty fields filled; two different values are a problem
        for name, value in obj.fields.items():
            mine = known.fields.get(name, "")
            if mine in ("", "0"):
                known.fields[name] = value
            elif value not in ("", "0") and value != mine:
                self.conflicts.append(
                    (known, name, f"“{mine}” in {known.file}, “{value}” in {obj.file}: one value, please.")
                )


def module_of(path: str) -> str:
    parts = PurePosixPath(path).parts[:-1]
    return next((p for p in parts if p.startswith("itop-")), parts[-1] if parts else "")


def parse(files: list[tuple[str, bytes]]) -> Data:
    """Read XML files (path, content); ItopRefused when none holds iTop objects."""
    data = Data()
    modules = {module_of(path) for path, _ in files}
    skip = FLAVOURS[1] if all(f in modules for f in FLAVOURS) else None
    for path, content in sorted(files):
        module = module_of(path)
        if module == skip:
            data.skipped.append(path)
            continue
        if DECLARATION.search(content):  # no entity can then be declared, nor expanded
            data.malformed.append((path, "A document type declaration is not allowed in iTop data."))
            continue
        try:
            root = ET.fromstring(content)  # noqa: S314 (no document type declaration: see above)
        except ET.ParseError as exc:
            data.malformed.append((path, f"Not well-formed XML ({exc})."))
            continue
        if root.tag != "Set":
            data.malformed.append((path, f"Not iTop data: the root element is <{root.tag}>, not <Set>."))
            continue
        data.files.append(path)
        for element in root:
            ident = (element.get("id") or "").strip()
            fields = {child.tag: (child.text or "").strip() for child in element if len(child) == 0}
            data.add(Obj(element.tag, ident, path, module, fields))
    if not any(data.by_class.get(c) for c in (*STRUCTURE, *CLASS_MAP)):
        found = ", ".join(sorted(data.by_class)) or "no objects"
        raise ItopRefused(
            "No iTop data to import: no organisation, location, person, team, CI or service in the XML files "
            f"({found}). Send the XML files of iTop's data loader (`<Set>` of objects), in a directory or a .zip."
        )
    return data


def read_directory(path: Path) -> Data:
    """Every .xml file under `path` (its sub-directories too)."""
    files = [(str(p.relative_to(path).as_posix()), p.read_bytes()) for p in sorted(path.rglob("*.xml")) if p.is_file()]
    if not files:
        raise ItopRefused(f"No .xml file in {path}.")
    return parse(files)


def read_zip(fileobj: IO[bytes]) -> Data:
    """Every .xml file of a .zip."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError):
        raise ItopRefused("Not a .zip file: send the iTop XML files zipped (their directories may stay).") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(".xml")]
        if not members:
            raise ItopRefused("No .xml file in the .zip: send the XML files of iTop's data loader.")
        if sum(m.file_size for m in members) > MAX_UNPACKED:
            raise ItopRefused(f"The XML files are larger than {MAX_UNPACKED // 1024 // 1024} MB unpacked.")
        return parse([(m.filename, archive.read(m)) for m in members])


def read(source: Path | IO[bytes]) -> Data:
    return read_directory(source) if isinstance(source, Path) else read_zip(source)


def engine_of(name: str) -> str:
    lowered = name.lower()
    return next((engine for word, engine in ENGINES if word in lowered), "Other" if name else "")


def memory_gb(text: str) -> int | None:
    """iTop's RAM (free text): “16”, “16 GB”, “16384 MB” -> GB."""
    match = re.fullmatch(r"(\d+)\s*(gb|go|g|mb|mo|m)?", text.strip().lower())
    if not match:
        return None
    value = int(match.group(1))
    return max(1, round(value / 1024)) if (match.group(2) or "").startswith("m") else value


def k_of(redundancy: str, n: int) -> int:
    """The members a farm needs up, by iTop's redundancy setting: “disabled” all of them, “2” two, “50%” half
    (rounded up); empty (the sample data): 1, iTop's default (the farm is up while one hypervisor is)."""
    text = redundancy.strip().lower()
    if text == "disabled":
        return n
    if text.endswith("%") and text[:-1].isdigit():
        return max(1, min(n, math.ceil(n * int(text[:-1]) / 100)))
    if text.isdigit():
        return max(1, min(n, int(text)))
    return 1


@dataclass
class PlannedRelationship:
    source: str  # iTop keys of the two CIs ("Server:2")
    kind: str
    target: str
    origin: Obj  # where a problem is reported: the object, and its field
    field_name: str


class Importer(inventory.Writer):
    """One run over the iTop data (see the module's docstring)."""

    report: Report

    def __init__(
        self,
        data: Data,
        *,
        actor: Any,
        dry_run: bool,
        reason: str = "iTop import",
        progress: Callable[[int], None] | None = None,
        authorised_by: str = "",
    ) -> None:
        report = Report(dry_run)
        for cls in CLASS_MAP:
            if data.of(cls):
                report.counts[cls] = inventory.zeros()
        report.counts["redundancy_groups"] = inventory.zeros()
        report.counts["relationships"] = inventory.zeros()
        super().__init__(
            report,
            actor=actor,
            reason=reason,
            progress=progress,
            authorised_by=authorised_by,
            key_field=KEY_FIELD,
        )
        self.data = data
        self.bad: set[str] = set()  # keys of objects refused (what depends on them is skipped, and said so)
        self.links: dict[tuple[str, str], Obj] = {}  # (object key, link field) -> the object it refers to
        self.provider: set[str] = set()  # keys of the provider's organisations
        self.orgs: dict[str, Organisation] = {}
        self.locations: dict[str, Location] = {}
        self.people: dict[str, Person] = {}
        self.cis: dict[str, ConfigurationItem] = {}
        self.rels: list[PlannedRelationship] = []

    # --- checks of the files alone ----------------------------------------------------------------------------

    def problem(self, obj: Obj | None, field_name: str, message: str) -> None:
        if obj is None:
            self.report.add("", None, None, field_name, message)
            return
        self.report.add(obj.cls, None, obj.shown_id, field_name, message, obj.file)
        self.bad.add(obj.key)

    def link(self, obj: Obj, name: str) -> Obj | None:
        return self.links.get((obj.key, name))

    def _resolve(self, obj: Obj, name: str) -> None:
        value = obj.ref(name)
        if value is None:
            return
        classes, noun = REFS[name]
        found = [o for cls in classes if (o := self.data.get(cls, value)) is not None]
        if len(found) > 1:
            found = [o for o in found if o.module == obj.module] or found
        if not found:
            self.problem(obj, name, f"{noun} {value} is not in the files.")
        elif len(found) > 1:
            names = " and ".join(f"{o.cls} {o.ident} ({o.file})" for o in found)
            self.problem(obj, name, f"{noun} {value} is ambiguous: {names}.")
        else:
            self.links[(obj.key, name)] = found[0]

    def check(self) -> None:
        data, report = self.data, self.report
        for path, message in data.malformed:
            report.add("", None, None, "file", message, path)
        for obj, name, message in data.conflicts:
            self.problem(obj, name, message)
        for cls, names in CHECKED.items():
            for obj in data.of(cls):
                report.objects += 1
                if not obj.ident:
                    self.problem(obj, "id", "Every iTop object has an id.")
                for name in names:
                    self._resolve(obj, name)
                if cls in (*STRUCTURE, *CLASS_MAP) and not obj.get("name"):
                    self.problem(obj, "name", f"A {cls} must have a name.")
                if cls in CLASS_MAP:
                    statuses = CLASS_MAP[cls][1]
                    status = obj.get("status")
                    if status and status not in statuses:
                        known = ", ".join(sorted(statuses))
                        self.problem(obj, "status", f"“{status}” is not an iTop status of a {cls} ({known}).")
                    criticality = obj.get("business_criticity")
                    if criticality and criticality not in Criticality.values:
                        self.problem(obj, "business_criticity", f"“{criticality}” is not low, medium or high.")
        for person in data.of("Person"):
            if not person.ref("org_id"):
                self.problem(person, "org_id", "A person belongs to an organisation: it has none.")
        self._notes()

    def _notes(self) -> None:
        data, notes = self.data, self.report.notes
        if data.skipped:
            notes.append(
                f"{len(data.skipped)} file(s) of {FLAVOURS[1]} not read: the same objects as {FLAVOURS[0]} "
                "(iTop's two flavours of the service module)."
            )
        later = [f"{len(data.of(c))} {label}" for c, label in NOT_YET.items() if data.of(c)]
        if later:
            notes.append(f"Not imported (their processes come later): {', '.join(later)}.")
        used = {*STRUCTURE, *CLASS_MAP, *LINKS, *LOOKUPS, *NOT_YET}
        other = [f"{len(objs)} {cls}" for cls, objs in sorted(data.by_class.items()) if cls not in used and objs]
        if other:
            notes.append(f"Not imported (no CMDB record for them): {', '.join(other)}.")
        inactive = [p for p in data.of("Person") if p.get("status") == "inactive"]
        if inactive:
            notes.append(f"{len(inactive)} inactive person(s) imported as active: deactivate them by hand.")

    # --- writing ----------------------------------------------------------------------------------------------

    def refuse(self, obj: Obj, exc: Exception, fields: dict[str, str] | None = None) -> None:
        for where, message in inventory.refusal_messages(exc, {**FIELD_OF, **(fields or {})}):
            self.problem(obj, where, message)

    def run(self) -> Report:
        self.check()
        inventory.rolled_back_unless_clean(self.report, self.apply)
        return self.report

    def apply(self) -> None:
        found = inventory.needed_defaults(self.report, CLASSES_NEEDED, KINDS_NEEDED, KEY_FIELD, "cmdb 0006")
        if found is None:
            return
        self.classes, self.kinds = found
        self.organisations()
        self.place()
        self.staff()
        self.items()
        self.groups()
        self.relationships()

    # organisations: the provider is this CMDB's internal organisation, the others customers (by name)

    def provider_keys(self) -> set[str]:
        data = self.data
        ids = {o.ref("org_id") for cls in ("Service", "DeliveryModel") for o in data.of(cls)}
        ids |= {o.ref("provider_id") for o in data.of("CustomerContract")}
        ids.discard(None)
        if not ids:
            ids = {t.ref("org_id") for t in data.of("Team")} - {None}
        return {f"Organization:{i}" for i in ids}

    def organisations(self) -> None:
        self.provider = self.provider_keys()
        by_name = {o.name: o for o in Organisation.objects.all()}
        internal = Organisation.objects.filter(kind=OrganisationKind.INTERNAL).order_by("pk").first()
        for obj in self.data.of("Organization"):
            self.tick()
            if obj.key in self.bad:
                continue
            name = obj.get("name")
            existing = by_name.get(name)
            if existing is None and obj.key in self.provider and internal is not None:
                existing = internal
                if name != internal.name:
                    self.report.notes.append(
                        f"iTop's provider “{name}” (the organisation delivering the services) is this CMDB's "
                        f"internal organisation “{internal.name}”."
                    )
            if existing is not None:
                self.orgs[obj.key] = existing
                self.report.count("organisations", "unchanged")
                continue
            kind = OrganisationKind.INTERNAL if obj.key in self.provider else OrganisationKind.CUSTOMER
            data = {"name": name, "kind": kind, "active": obj.get("status") != "inactive"}
            try:
                org = services.create_record(Organisation, data=data, actor=self.actor, reason=self.reason)
            except (ValidationError, PermissionDenied) as exc:
                self.refuse(obj, exc)
                continue
            by_name[name] = self.orgs[obj.key] = org
            if kind == OrganisationKind.INTERNAL:
                internal = internal or org
            self.report.count("organisations", "created")

    def _org(self, obj: Obj, name: str = "org_id") -> tuple[bool, Organisation | None]:
        """The organisation of an object (not ok when it was refused: the object is skipped, and said so)."""
        target = self.link(obj, name)
        if target is None:
            return True, None
        org = self.orgs.get(target.key)
        if org is None:
            if obj.key not in self.bad:
                self.problem(obj, name, f"Its organisation {target.ident} was not imported (see its problem).")
            return False, None
        return True, org

    def _customer(self, obj: Obj) -> tuple[bool, Organisation | None]:
        """A CI's customer: its organisation, none when it is the provider's (shared)."""
        target = self.link(obj, "org_id")
        if target is not None and target.key in self.provider:
            return True, None
        return self._org(obj)

    def _location(self, obj: Obj) -> tuple[bool, Location | None]:
        target = self.link(obj, "location_id")
        if target is None:
            return True, None
        found = self.locations.get(target.key)
        if found is None:
            if obj.key not in self.bad:
                self.problem(obj, "location_id", f"Its location {target.ident} was not imported (see its problem).")
            return False, None
        return True, found

    # locations: of their organisation, found by organisation and name

    def place(self) -> None:
        existing = {(loc.organisation_id, loc.name): loc for loc in Location.objects.filter(parent=None)}
        for obj in self.data.of("Location"):
            self.tick()
            if obj.key in self.bad:
                continue
            ok, org = self._org(obj)
            if not ok:
                continue
            if org is None:
                self.problem(obj, "org_id", "A location belongs to an organisation: it has none.")
                continue
            town = " ".join(v for v in (obj.get("postal_code"), obj.get("city")) if v)
            address = "\n".join(v for v in (obj.get("address"), town, obj.get("country")) if v)
            found = existing.get((org.pk, obj.get("name")))
            try:
                if found is None:
                    data = {"name": obj.get("name"), "organisation": org, "kind": LocationKind.SITE, "address": address}
                    found = services.create_record(Location, data=data, actor=self.actor, reason=self.reason)
                    self.report.count("locations", "created")
                elif found.address != address:
                    found = services.update_record(
                        found, data={"address": address}, actor=self.actor, expected_version=found.version
                    )
                    self.report.count("locations", "updated")
                else:
                    self.report.count("locations", "unchanged")
            except (ValidationError, PermissionDenied) as exc:
                self.refuse(obj, exc, {"address": "address"})
                continue
            existing[(org.pk, found.name)] = self.locations[obj.key] = found

    # people (found by e-mail, else by name in their organisation) and teams (by name) with their members

    def staff(self) -> None:
        by_email = {p.email.lower(): p for p in Person.objects.exclude(email="")}
        by_name = {(p.organisation_id, p.first_name, p.last_name): p for p in Person.objects.all()}
        for obj in self.data.of("Person"):
            self.tick()
            if obj.key in self.bad:
                continue
            ok, org = self._org(obj)
            ok2, location = self._location(obj)
            if not (ok and ok2) or org is None:
                continue
            wanted = {
                "first_name": obj.get("first_name"),
                "last_name": obj.get("name"),
                "email": obj.get("email"),
                "phone": obj.get("phone"),
                "mobile": obj.get("mobile_phone"),
                "job_title": obj.get("function"),
                "organisation": org,
                "location": location,
            }
            found = by_email.get(obj.get("email").lower()) if obj.get("email") else None
            found = found or by_name.get((org.pk, wanted["first_name"], wanted["last_name"]))
            person = self._save(obj, "people", Person, found, wanted)
            if person is not None:
                self.people[obj.key] = person
        members: dict[str, list[Obj]] = defaultdict(list)
        for link in self.data.of("lnkPersonToTeam"):
            team, person = self.link(link, "team_id"), self.link(link, "person_id")
            if team is not None and person is not None:
                members[team.key].append(person)
        by_team = {t.name: t for t in Team.objects.prefetch_related("memberships")}
        for obj in self.data.of("Team"):
            self.tick()
            if obj.key in self.bad:
                continue
            ok, org = self._org(obj)
            if not ok:
                continue
            found = by_team.get(obj.get("name"))
            have = {m.person_id for m in found.memberships.all()} if found else set()
            rows = [{"id": m.pk} for m in found.memberships.all()] if found else []
            for person_obj in members.get(obj.key, []):
                person = self.people.get(person_obj.key)
                if person is not None and org is not None and person.organisation_id != org.pk:
                    self.report.notes.append(
                        f"{person.first_name} {person.last_name} ({person.organisation}) is not made a member of the "
                        f"team {obj.get('name')}: a team's members are people of its own organisation ({org})."
                    )
                elif person is not None and person.pk not in have:
                    have.add(person.pk)
                    rows.append({"person": person, "role": "member"})
            team_data: dict[str, Any] = {"name": obj.get("name"), "organisation": org, "email": obj.get("email")}
            extra = {"memberships": rows} if found is None or len(rows) > found.memberships.count() else {}
            self._save(obj, "teams", Team, found, team_data, extra)

    def _save(
        self, obj: Obj, kind: str, model: Any, found: Any, wanted: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> Any:
        extra = extra or {}
        try:
            if found is None:
                record = services.create_record(model, data={**wanted, **extra}, actor=self.actor, reason=self.reason)
                self.report.count(kind, "created")
                return record
            changes = {k: v for k, v in wanted.items() if getattr(found, k) != v} | extra
            if not changes:
                self.report.count(kind, "unchanged")
                return found
            record = services.update_record(
                found, data=changes, actor=self.actor, expected_version=found.version, reason=self.reason
            )
            self.report.count(kind, "updated")
            return record
        except (ValidationError, PermissionDenied) as exc:
            self.refuse(obj, exc, {"memberships": "lnkPersonToTeam", "email": "email", "phone": "phone"})
            return None

    # configuration items

    def _name(self, obj: Obj | None) -> str:
        return obj.get("name") if obj is not None else ""

    def attributes(self, obj: Obj) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model fields, attributes) of a functional CI or service beyond name, class, customer and location."""
        cls, link, name = obj.cls, self.link, self._name
        wanted: dict[str, Any] = {}
        attrs: dict[str, Any] = {}
        if obj.get("business_criticity") in Criticality.values:
            wanted["criticality"] = obj.get("business_criticity")
        if cls in PHYSICAL:
            attrs |= {
                "serial_number": obj.get("serialnumber"),
                "asset_number": obj.get("asset_number"),
                "manufacturer": name(link(obj, "brand_id")),
                "model": name(link(obj, "model_id")),
                "warranty_end": obj.get("end_of_warranty"),
            }
        if cls in WITH_IP:
            attrs["management_ip"] = obj.get("managementip")
        if cls in ("Server", "PC", "VirtualMachine"):
            os_name = " ".join(v for v in (name(link(obj, "osfamily_id")), name(link(obj, "osversion_id"))) if v)
            cpu = obj.get("cpu")
            attrs |= {
                "operating_system": os_name,
                "cpu_count": int(cpu) if cpu.isdigit() else None,
                "memory_gb": memory_gb(obj.get("ram")),
            }
        if cls == "NetworkDevice":
            attrs["device_role"] = class_of_role(name(link(obj, "networkdevicetype_id")))[1]
            attrs["platform"] = name(link(obj, "iosversion_id"))
        if cls == "VirtualMachine":
            attrs["hypervisor"] = name(link(obj, "virtualhost_id"))
        if cls in SOFTWARE_INSTANCES:
            software = link(obj, "software_id")
            attrs |= {"vendor": software.get("vendor") if software else "", "product": name(software)}
            wanted["ci_version"] = software.get("version") if software else ""
        if cls == "DatabaseSchema":
            server = link(obj, "dbserver_id")
            software = link(server, "software_id") if server else None
            attrs["engine"] = engine_of(name(software))
        if cls == "WebApplication":
            attrs["url"] = obj.get("url")
        if cls == "Service":
            attrs["service_family"] = name(link(obj, "servicefamily_id"))
        return wanted, attrs

    def items(self) -> None:
        existing = self.existing_cis()
        for cls, (class_name, statuses) in CLASS_MAP.items():
            for obj in self.data.of(cls):
                self.tick()
                self.plan_links(obj)
                if obj.key in self.bad:
                    continue
                if cls == "ServiceSubcategory":
                    service = self.link(obj, "service_id")
                    ok, organisation = self._customer(service) if service else (True, None)
                else:
                    ok, organisation = self._customer(obj)
                ok2, location = self._location(obj) if cls in PHYSICAL else (True, None)
                if not (ok and ok2):
                    continue
                more, attrs = self.attributes(obj)
                wanted = {
                    "name": obj.get("name")[:200],
                    "ci_class": self.classes[class_name],
                    "organisation": organisation,
                    "location": location,
                    "description": obj.get("description"),
                    **more,
                }
                status = statuses.get(obj.get("status"), L)
                try:
                    ci, outcome = self.save_ci(obj.key, wanted, attrs, status, existing.get(obj.key))
                except (ValidationError, PermissionDenied) as exc:
                    self.refuse(obj, exc)
                    continue
                except (services.TransitionNotAllowed, services.StaleVersion) as exc:
                    self.problem(obj, "status", str(exc))
                    continue
                self.report.count(cls, outcome)
                self.cis[obj.key] = ci

    def plan_links(self, obj: Obj) -> None:
        """The relationships an object's own link fields make (link classes: `relationships`)."""

        def plan(field_name: str, kind: str, reverse: bool = False) -> None:
            target = self.link(obj, field_name)
            if target is not None:
                source, end = (target.key, obj.key) if reverse else (obj.key, target.key)
                self.rels.append(PlannedRelationship(source, kind, end, obj, field_name))

        cls = obj.cls
        if cls in PHYSICAL:
            plan("enclosure_id" if self.link(obj, "enclosure_id") else "rack_id", "Mounted in")
            plan("powerA_id", "Powered by")
            plan("powerB_id", "Powered by")
        if cls == "PDU":
            plan("powerstart_id", "Powered by")
        for field_name in ("virtualhost_id", "server_id", "system_id", "dbserver_id", "webserver_id", "middleware_id"):
            plan(field_name, "Runs on")
        if cls == "ServiceSubcategory":
            plan("service_id", "Part of")

    def groups(self) -> None:
        """A farm is a redundancy group of its hypervisors (its CI stands for the group)."""
        hosts: dict[str, list[ConfigurationItem]] = defaultdict(list)
        for hypervisor in self.data.of("Hypervisor"):
            farm = self.link(hypervisor, "farm_id")
            if farm is not None and hypervisor.key in self.cis:
                hosts[farm.key].append(self.cis[hypervisor.key])
        for obj in self.data.of("Farm"):
            ci = self.cis.get(obj.key)
            members = hosts.get(obj.key, [])
            if ci is None:
                continue
            if not members:
                self.report.notes.append(f"Farm {obj.ident} “{obj.get('name')}” has no hypervisor: no group made.")
                continue
            group = RedundancyGroup.objects.filter(ci=ci).prefetch_related("members").first()
            k = k_of(obj.get("redundancy"), len(members))
            try:
                if group is None:
                    data = {
                        "ci": ci,
                        "members": members,
                        "required_up": k,
                        "description": f"iTop farm {obj.get('name')}: its hypervisors.",
                    }
                    services.create_record(
                        RedundancyGroup,
                        data=data,
                        actor=self.actor,
                        reason=self.reason,
                        authorised_by=self.authorised_by,
                    )
                    self.report.count("redundancy_groups", "created")
                    continue
                changes: dict[str, Any] = {}
                if {m.pk for m in group.members.all()} != {m.pk for m in members}:
                    changes["members"] = members
                if (obj.get("redundancy") and group.required_up != k) or group.required_up > len(members):
                    changes["required_up"] = k
                if not changes:
                    self.report.count("redundancy_groups", "unchanged")
                    continue
                services.update_record(
                    group,
                    data=changes,
                    actor=self.actor,
                    expected_version=group.version,
                    reason=self.reason,
                    authorised_by=self.authorised_by,
                )
                self.report.count("redundancy_groups", "updated")
            except (ValidationError, PermissionDenied) as exc:
                self.refuse(obj, exc, {"members": "farm_id", "required_up": "redundancy"})

    def relationships(self) -> None:
        for cls, (source_field, target_field) in LINKS.items():
            if cls == "lnkPersonToTeam":
                continue
            kind = "Connects to" if cls == "lnkConnectableCIToNetworkDevice" else "Depends on"
            for link in self.data.of(cls):
                source, target = self.link(link, source_field), self.link(link, target_field)
                if source is None or target is None:
                    continue
                if cls == "lnkConnectableCIToNetworkDevice" and link.get("connection_type") == "downlink":
                    source, target = target, source  # the network device reaches the network through the CI
                self.rels.append(PlannedRelationship(source.key, kind, target.key, link, target_field))
        existing = self.existing_relationships(list(self.cis.values()))
        seen: set[tuple[int, int, int]] = set()
        for rel in self.rels:
            self.tick()
            source_ci, target_ci = self.cis.get(rel.source), self.cis.get(rel.target)
            if source_ci is None or target_ci is None:
                continue  # the end refused is reported with its own problem
            outcome = self.relate(source_ci, self.kinds[rel.kind], target_ci, "", existing, seen)
            if outcome in ("created", "unchanged"):
                self.report.count("relationships", outcome)
            elif outcome is not None:
                self.report.add(rel.origin.cls, None, rel.origin.shown_id, rel.field_name, outcome, rel.origin.file)


def run(
    data: Data,
    *,
    actor: Any,
    dry_run: bool,
    reason: str = "iTop import",
    progress: Callable[[int], None] | None = None,
    authorised_by: str = "",
) -> Report:
    """Check (`dry_run=True`) or import iTop data: see the module's docstring. PermissionDenied for an actor who
    may not add configuration items; every other problem is in the report, and a commit with problems writes
    nothing. `authorised_by`: the approved change that lists the CIs under change control the import changes."""
    inventory.require_import(actor, "iTop")
    importer = Importer(
        data, actor=actor, dry_run=dry_run, reason=reason, progress=progress, authorised_by=authorised_by
    )
    return importer.run()


def total_objects(data: Data) -> int:
    """About how many steps an import takes (for a progress bar)."""
    return sum(len(data.of(c)) for c in (*STRUCTURE, *CLASS_MAP, *LINKS)) + sum(len(data.of(c)) for c in CLASS_MAP)


def zip_directory(path: Path) -> bytes:
    """The XML files under a directory as a .zip (what the page and the API take)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*.xml")):
            archive.write(file, file.relative_to(path).as_posix())
    return buffer.getvalue()


SOURCE = inventory.Source(
    name="iTop",
    job_type=JOB_TYPE,
    default_file="itop.zip",
    read=lambda fileobj: read_zip(fileobj),
    run=lambda data, **kwargs: run(data, **kwargs),
    total=lambda data: total_objects(data),
    report_class=Report,
)
save_upload = SOURCE.save_upload
check_job = SOURCE.check_job
check_file = SOURCE.check_file
discard = SOURCE.discard
job_for = SOURCE.job_for
commit_job = SOURCE.commit_job
job_progress = SOURCE.job_progress
may_import = inventory.may_import
